// The agent's resync, before and after issue 20 item 4, on a real `tether registry` (dist/) for docs/scale.md:
//   node --import tsx bench/resync-cost.ts [--store sqlite|etcd] [--others N]
// Server CPU (/proc, all threads; etcd's too) and the agent's own CPU (process.cpuUsage) per resync
// of an agent with 1, 100 and 1,000 services in a tenant holding N others (session services),
// A/B in the same minute: the resync of today (one GET /services/{id} per own service) and the
// list of the whole tenant in pages of 1,000 that it replaced.
import { parseArgs } from 'node:util';
import pino from 'pino';
import { HttpRegistry } from '../src/client/http-registry.js';
import { AgentMetrics } from '../src/observability/metrics.js';
import { Syncer } from '../src/sync/syncer.js';
import { Cleanup } from './lib/cleanup.js';
import type { Server } from './lib/child.js';
import { startEtcd } from './lib/etcd.js';
import { fmt, printTable } from './lib/report.js';
import { startTether } from './lib/tether.js';

const TENANT = 'resync';
/** GETs per measured batch: the /proc tick is 10 ms, so a batch must cost several hundred of them. */
const GETS_PER_BATCH = 2_000;
const LIST_ROUNDS = 10;

const { values } = parseArgs({ options: { store: { type: 'string', default: 'sqlite' }, others: { type: 'string', default: '1000' } } });
const store = values.store ?? 'sqlite';
const others = Number(values.others);

interface Sample {
  serverUs: number;
  etcdUs: number;
  agentUs: number;
}

/** CPU µs per call of `op` over `rounds` calls: the server's, etcd's, this process's. */
async function measure(servers: { tether: Server; etcd: Server | null }, rounds: number, op: () => Promise<void>): Promise<Sample> {
  const s0 = servers.tether.cpuSeconds();
  const e0 = servers.etcd?.cpuSeconds() ?? 0;
  const a0 = process.cpuUsage();
  for (let i = 0; i < rounds; i++) await op();
  const a = process.cpuUsage(a0);
  return {
    serverUs: ((servers.tether.cpuSeconds() - s0) / rounds) * 1e6,
    etcdUs: servers.etcd === null ? Number.NaN : (((servers.etcd.cpuSeconds() - e0) / rounds) * 1e6),
    agentUs: (a.user + a.system) / rounds,
  };
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  try {
    const args = ['--limits', `service=${others + 1200},session=50`];
    const etcd = store === 'etcd' ? await startEtcd(cleanup) : null;
    const tether = await startTether(cleanup, { store, ...(etcd ? { etcdUrl: etcd.url } : {}), args });
    const client = new HttpRegistry({ url: tether.url });
    // The other services: bound to one session, kept alive while we measure.
    const session = await client.createSession(TENANT, { heartbeat_timeout: 120 });
    for (let i = 0; i < others; i += 50) {
      const ids = Array.from({ length: Math.min(50, others - i) }, (_, j) => `other-${i + j}`);
      await Promise.all(ids.map((id) => client.createService(TENANT, { id, heartbeat_timeout: 120, session_id: session.id })));
    }
    let token = session.token;
    const beat = setInterval(() => void client.heartbeatSession(TENANT, session.id, { token }).then((r) => (token = r.token), () => {}), 20_000);
    const rows: string[][] = [];
    for (const own of [1, 100, 1000]) {
      const syncer = new Syncer({ registry: client, tenant: TENANT, mode: 'session', sessionTimeoutSec: () => 120, log: pino({ level: 'silent' }), metrics: new AgentMetrics(), resyncIntervalMs: () => 3_600_000 });
      for (let i = 0; i < own; i++) syncer.services.add({ id: `own-${own}-${i}`, tags: [], metadata: {}, heartbeatTimeoutSec: 120, onUnhealthy: 'deregister', deregisterCriticalAfterMs: null, check: null, origin: 'bench:1' });
      syncer.trigger();
      await syncer.idle();
      if (![...syncer.services.values()].every((s) => s.registered !== null)) throw new Error(`not every one of ${own} services registered`);
      const rounds = Math.max(3, Math.ceil(GETS_PER_BATCH / own));
      // One warm-up round of each, then A/B interleaved.
      await syncer.resync();
      await syncer.idle();
      const listAll = async (): Promise<void> => {
        let marker: string | undefined;
        do {
          const page = await client.listServices(TENANT, { limit: 1000, marker });
          marker = page.metadata.next_marker ?? undefined;
        } while (marker !== undefined);
      };
      // On etcd a page of 1,000 may answer 503 (docs/scale.md, "etcd list failures"): counted, not fatal.
      let listFailures = 0;
      const listOnce = (): Promise<void> => listAll().catch(() => void listFailures++);
      await listOnce();
      listFailures = 0;
      const now = await measure({ tether, etcd }, rounds, async () => {
        await syncer.resync();
        await syncer.idle();
      });
      const then = await measure({ tether, etcd }, LIST_ROUNDS, listOnce);
      const total = others + own;
      rows.push([String(own), String(total), fmt(now.serverUs / 1000, 3), fmt(now.etcdUs / 1000, 3), fmt(now.agentUs / 1000, 3), fmt(now.serverUs / own, 0), fmt(then.serverUs / 1000, 2), fmt(then.etcdUs / 1000, 2), fmt(then.agentUs / 1000, 2), `${listFailures}/${LIST_ROUNDS}`]);
      await syncer.close(10_000);
    }
    clearInterval(beat);
    await client.close();
    printTable(`resync cost per round, ${store}, tenant of ${others} other services + the agent's own`, ['own services', 'tenant size', 'GETs: server ms', 'etcd ms', 'agent ms', 'server µs/GET', 'old list: server ms', 'etcd ms', 'agent ms', 'lists failed'], rows);
  } finally {
    await cleanup.runAll();
  }
}

await main();
