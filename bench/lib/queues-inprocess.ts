import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueueService } from '../../src/queues/service.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { messageBody } from './queues-targets.js';
import { fmt } from './report.js';

/**
 * The queues workloads on a QueueService over a durable SQLite file in this
 * process, without HTTP: what the domain and the store cost on their own, to
 * tell them apart from the request path in the HTTP figures. CPU is this
 * process's (the lanes' own cost is small: no I/O but the store's).
 */

export interface InProcessFigure {
  what: string;
  perSecond: number;
  /** CPU per message (or page), µs. */
  cpuUs: number;
  /** Messages (pages: none) per durable commit: what group commit and the domain's posting line batch per fsync. */
  perCommit: number;
}

const LANES = 32;
const CLAIM = { ttl: 300, grace: 60 };

export async function measureInProcess(durationMs: number): Promise<InProcessFigure[]> {
  const dir = await mkdtemp(join(tmpdir(), 'tether-queues-inprocess-'));
  const store = openSqliteStore({ path: join(dir, 'store.db') });
  const service = await QueueService.open(store, { sweepIntervalMs: 0 });
  const clientId = randomUUID();
  let seq = 0;
  const batch = (n: number): unknown[] => Array.from({ length: n }, () => ({ ttl: 3600, body: messageBody(seq++) }));
  const figures: InProcessFigure[] = [];
  const loop = async (what: string, step: (lane: number) => Promise<number>): Promise<void> => {
    const until = performance.now() + durationMs;
    const [t0, c0, s0] = [performance.now(), process.cpuUsage(), store.commitStats()];
    let units = 0;
    await Promise.all(
      Array.from({ length: LANES }, async (_, lane) => {
        while (performance.now() < until) {
          const n = await step(lane);
          units += n;
          if (n === 0) return;
        }
      }),
    );
    const [cpu, s1] = [process.cpuUsage(c0), store.commitStats()];
    const commits = s1.commits - s0.commits;
    figures.push({
      what,
      perSecond: units / ((performance.now() - t0) / 1000),
      cpuUs: (cpu.user + cpu.system) / units,
      perCommit: commits === 0 ? Number.NaN : units / commits,
    });
  };
  try {
    await service.createQueue('bench', 'work');
    await loop('post b1', async () => (await service.postMessages('bench', 'work', clientId, batch(1)), 1));
    await loop('post b10', async () => (await service.postMessages('bench', 'work', clientId, batch(10)), 10));
    await loop('consume', async () => {
      const claim = await service.claimMessages('bench', 'work', CLAIM, { limit: 10 });
      if (claim === null) return 0;
      await service.deleteMessages('bench', 'work', claim.messages.map((m) => m.id));
      return claim.messages.length;
    });
    const markers: Array<string | undefined> = new Array(LANES).fill(undefined);
    await loop('pages', async (lane) => {
      const page = await service.listMessages('bench', 'work', { clientId, marker: markers[lane], limit: 10, echo: true });
      markers[lane] = page.messages.length === 0 ? undefined : page.marker;
      return 1;
    });
    return figures;
  } finally {
    await service.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export function inProcessLine(f: InProcessFigure): string {
  const group = Number.isNaN(f.perCommit) ? '' : `, ${fmt(f.perCommit, 1)} a commit`;
  return `in-process QueueService on SQLite, ${LANES} lanes, ${f.what}: ${fmt(f.perSecond, 0)}/s, ${fmt(f.cpuUs, 1)} us CPU each${group}`;
}
