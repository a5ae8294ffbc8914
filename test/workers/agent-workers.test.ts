import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Manifest, WorkerSpec } from '../../src/manifest/model.js';
import { silentLogger } from '../../src/observability/logger.js';
import { AgentMetrics } from '../../src/observability/metrics.js';
import type { Queues } from '../../src/queues/queues.js';
import { QueueService } from '../../src/queues/service.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';
import { AgentWorkers } from '../../src/workers/agent-workers.js';
import { freePort } from '../helpers/ports.js';
import { startQueuesServer } from '../server/queues-helpers.js';

/**
 * The agent's side of workers: concurrent reloads are applied one at a time
 * (review 16 S3: never two Workers, nor a stale manifest's worker), and the
 * queues client fails over across upstream.url like the registry client.
 */

const P = 'p1';
let store: Store;
let queues: QueueService;
const closers: Array<() => Promise<void>> = [];

beforeEach(async () => {
  store = openSqliteStore({ path: ':memory:' });
  queues = await QueueService.open(store, { logger: silentLogger(), limits: { minClaimTtl: 1, minClaimGrace: 1 } });
});

afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await queues.close();
  await store.close();
});

function worker(name: string, queue: string): WorkerSpec {
  return {
    name,
    queue,
    concurrency: 1,
    ttlSec: 30,
    graceSec: 30,
    filter: { types: null, serviceTag: null, serviceIdPrefix: null, keyPrefix: null, match: null },
    action: { name: null, action: { kind: 'exec', argv: ['true'], shell: false, timeoutMs: 10_000 } },
    attempts: 3,
    deadLetter: null,
    retryDelayMs: 10,
    origin: 'test:1',
  };
}

/** What AgentWorkers reads of a manifest: its workers and upstream. */
function manifest(workers: WorkerSpec[], upstream: Manifest['upstream'] = null): Manifest {
  return { workers, upstream } as unknown as Manifest;
}

describe('AgentWorkers', () => {
  it('S3: concurrent first applies build one Workers; the last manifest wins; close() leaves no claim loop behind', async () => {
    let claiming = 0;
    // The service, counting claim calls in progress: a leaked worker would sit in one (a 20 s long poll).
    const counted = new Proxy(queues, {
      get(target, prop, receiver) {
        if (prop === 'claimMessages') {
          return async (...args: Parameters<Queues['claimMessages']>) => {
            claiming += 1;
            try {
              return await target.claimMessages(...args);
            } finally {
              claiming -= 1;
            }
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const aw = new AgentWorkers(silentLogger(), new AgentMetrics(), { queues: counted, project: P });
    const [first, second, third] = await Promise.all([
      aw.apply(manifest([worker('a', 'qa')])),
      aw.apply(manifest([worker('b', 'qb')])),
      aw.apply(manifest([worker('b', 'qb'), worker('c', 'qc')])),
    ]);
    expect(first).toEqual({ started: ['a'], stopped: [], kept: [] });
    expect(second).toEqual({ started: ['b'], stopped: ['a'], kept: [] });
    expect(third).toEqual({ started: ['c'], stopped: [], kept: ['b'] });
    expect(aw.status().map((s) => s.name)).toEqual(['b', 'c']);
    await expect.poll(() => claiming, { timeout: 10_000 }).toBe(2);
    await aw.close();
    expect(claiming).toBe(0);
    // Closed: a late reload starts nothing.
    expect(await aw.apply(manifest([worker('d', 'qd')]))).toEqual({ started: [], stopped: [], kept: [] });
    expect(claiming).toBe(0);
  }, 30_000);

  it('queue actions post through the upstream.url list: the first server down, the next one answers', async () => {
    const live = await startQueuesServer();
    closers.push(() => live.close());
    const dead = `http://127.0.0.1:${await freePort()}`;
    const up: Manifest['upstream'] = {
      endpoints: [
        { base: dead, tenant: P, url: `${dead}/v1.0/${P}` },
        { base: live.url, tenant: P, url: `${live.url}/v1.0/${P}` },
      ],
      token: null,
      tokenFile: null,
      timeoutMs: 5000,
      tls: null,
    };
    const aw = new AgentWorkers(silentLogger(), new AgentMetrics());
    closers.push(() => aw.close());
    const poster = aw.poster(() => manifest([], up));
    await live.queues.createQueue(P, 'fanout');
    // Two concurrent first posts share one client.
    const ids = await Promise.all([poster.post('fanout', { n: 1 }, 300), poster.post('fanout', { n: 2 }, 300)]);
    expect(ids.every((id) => /^[0-9a-f]{24}$/.test(id))).toBe(true);
    const page = await live.queues.listMessages(P, 'fanout', { clientId: randomUUID(), echo: true });
    expect(page.messages.map((m) => m.body)).toEqual(expect.arrayContaining([{ n: 1 }, { n: 2 }]));
    expect(page.messages).toHaveLength(2);
  }, 30_000);
});
