import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { consume } from '../../src/client/queue-consumer.js';
import { hasCode } from '../../src/lib/errors.js';
import type { ActionSpec, WorkerSpec } from '../../src/manifest/model.js';
import { silentLogger } from '../../src/observability/logger.js';
import { queueFault } from '../../src/queues/faults.js';
import type { Queues } from '../../src/queues/queues.js';
import { QueueService } from '../../src/queues/service.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';
import { Worker } from '../../src/workers/worker.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * consume() and Worker claims over a real QueueService (SQLite): the local
 * lease (review 16 M3), deletes retried (S4), and the pipeline that claims
 * again as slots free (S2), with real child processes as worker actions.
 */

const P = 'p1';
let store: Store;
let queues: QueueService;
let tmp: TempDir;
const stops: Array<() => Promise<unknown>> = [];

beforeEach(async () => {
  store = openSqliteStore({ path: ':memory:' });
  queues = await QueueService.open(store, { logger: silentLogger(), limits: { minClaimTtl: 1, minClaimGrace: 1 } });
  tmp = await createTempDir('consumer-claims');
});

afterEach(async () => {
  for (const s of stops.splice(0)) await s();
  await queues.close();
  await store.close();
  await tmp.remove();
});

/** The service, with `method` replaced. */
function wrapped<K extends keyof Queues>(method: K, impl: Queues[K]): Queues {
  return new Proxy(queues, {
    get(target, prop, receiver) {
      if (prop === method) return impl;
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

async function post(queue: string, bodies: unknown[]): Promise<string[]> {
  await queues.createQueue(P, queue);
  return queues.postMessages(P, queue, randomUUID(), bodies.map((body) => ({ ttl: 300, body })));
}

function run(q: Queues, queue: string, handler: Parameters<typeof consume>[3], opts: { ttl: number }): AbortController {
  const ac = new AbortController();
  const done = consume(q, P, queue, handler, { signal: ac.signal, ttl: opts.ttl, grace: opts.ttl, waitMs: 1000, limit: 1 });
  stops.push(async () => {
    ac.abort();
    await done;
  });
  return ac;
}

describe('consume(): claims', () => {
  it('M3: renewals failing (503) for the claim ttl abort the handler before the server lets the claim go; the next consumer starts after', async () => {
    const [id] = await post('jobs', ['job']);
    const down = wrapped('renewClaim', async () => {
      throw queueFault('unavailable', 'partitioned');
    });
    let first: { started: number; aborted?: number; reason?: unknown } | undefined;
    let second: number | undefined;
    const a = run(down, 'jobs', async (_m, { signal }) => {
      first = { started: Date.now() };
      await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
      first.aborted = Date.now();
      first.reason = signal.reason;
      // This consumer is done: the message must go to the other one, not back here.
      a.abort();
      throw signal.reason;
    }, { ttl: 5 });
    await expect.poll(() => first !== undefined, { timeout: 10_000 }).toBe(true);
    run(queues, 'jobs', (m) => {
      if (m.id === id) second = Date.now();
    }, { ttl: 5 });
    await expect.poll(() => second !== undefined, { timeout: 20_000 }).toBe(true);
    const f = first as { started: number; aborted?: number; reason?: unknown };
    expect(f.aborted).toBeDefined();
    expect(hasCode(f.reason, 'queues.claimLost')).toBe(true);
    // Given up at ttl less the margin (1 s): before the 5 s claim expired on the server, and before anyone else ran it.
    expect((f.aborted as number) - f.started).toBeLessThan(5000);
    expect(second as number).toBeGreaterThanOrEqual(f.aborted as number);
    await expect.poll(async () => (await queues.getStats(P, 'jobs')).total, { timeout: 10_000 }).toBe(0);
  }, 40_000);

  it('S4: a delete that fails with 503 is tried again while the claim is held: each message is handled once', async () => {
    const ids = await post('jobs', ['a', 'b', 'c']);
    let refused = 0;
    const flaky = wrapped('deleteMessage', async (...args: Parameters<Queues['deleteMessage']>) => {
      if (refused < 2) {
        refused += 1;
        throw queueFault('unavailable', 'leader change');
      }
      return queues.deleteMessage(...args);
    });
    const seen: string[] = [];
    // A 60 s claim: a delete given up would leave its message claimed (and run again) only after the test's deadline.
    run(flaky, 'jobs', (m) => void seen.push(m.id), { ttl: 60 });
    await expect.poll(async () => (await queues.getStats(P, 'jobs')).total, { timeout: 15_000 }).toBe(0);
    expect(refused).toBe(2);
    expect([...seen].sort()).toEqual([...ids].sort());
  }, 30_000);
});

describe('Worker pipeline (S2)', () => {
  /** Appends its stdin to `runs`, then (for a body containing "slow", or for every body with `allSlow`) waits for `go`. */
  function gated(allSlow: boolean): ActionSpec {
    const runs = join(tmp.path, 'runs');
    const go = join(tmp.path, 'go');
    const wait = `while [ ! -e '${go}' ]; do sleep 0.05; done`;
    const script = `line=$(cat); printf '%s\\n' "$line" >> '${runs}'; ${allSlow ? wait : `case "$line" in *slow*) ${wait};; esac`}; exit 0`;
    return { kind: 'exec', argv: ['sh', '-c', script], shell: false, timeoutMs: 60_000 };
  }

  function start(action: ActionSpec, concurrency: number): Worker {
    const spec: WorkerSpec = {
      name: 'w',
      queue: 'jobs',
      concurrency,
      ttlSec: 30,
      graceSec: 30,
      filter: { types: null, serviceTag: null, serviceIdPrefix: null, keyPrefix: null, match: null },
      action: { name: null, action },
      attempts: 3,
      deadLetter: null,
      retryDelayMs: 10,
      origin: 'test:1',
    };
    const w = new Worker(spec, { queues, project: P, log: silentLogger() });
    stops.push(() => w.stop());
    return w;
  }

  const started = async () => (await readFile(join(tmp.path, 'runs'), 'utf8').catch(() => '')).split('\n').filter((l) => l !== '').length;

  it('concurrency 25 (above the 20 messages of one claim) runs 25 actions at once', async () => {
    // 20 actions on one claim's signal, 25 claims on the worker's: no "possible EventTarget memory leak" on stderr (R16).
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    stops.push(async () => void process.off('warning', onWarning));
    const w = start(gated(true), 25);
    await post('jobs', Array.from({ length: 25 }, (_, i) => ({ n: i })));
    await expect.poll(started, { timeout: 30_000 }).toBe(25);
    expect(w.status().in_flight).toBe(25);
    await new Promise((r) => setImmediate(r));
    expect(warnings.filter((n) => n === 'MaxListenersExceededWarning')).toEqual([]);
    await writeFile(join(tmp.path, 'go'), '');
    await expect.poll(() => w.status().succeeded, { timeout: 30_000 }).toBe(25);
    await expect.poll(async () => (await queues.getStats(P, 'jobs')).total, { timeout: 10_000 }).toBe(0);
  }, 60_000);

  it('R16: a server allowing 5 messages per claim (the worker asks for up to 20): the limit is halved, every message runs', async () => {
    const small = openSqliteStore({ path: ':memory:' });
    const q5 = await QueueService.open(small, { logger: silentLogger(), limits: { minClaimTtl: 1, minClaimGrace: 1, maxMessagesPerClaim: 5 } });
    stops.push(async () => {
      await q5.close();
      await small.close();
    });
    const spec: WorkerSpec = {
      name: 'w',
      queue: 'jobs',
      concurrency: 12,
      ttlSec: 30,
      graceSec: 30,
      filter: { types: null, serviceTag: null, serviceIdPrefix: null, keyPrefix: null, match: null },
      action: { name: null, action: { kind: 'exec', argv: ['true'], shell: false, timeoutMs: 10_000 } },
      attempts: 3,
      deadLetter: null,
      retryDelayMs: 10,
      origin: 'test:1',
    };
    const w = new Worker(spec, { queues: q5, project: P, log: silentLogger() });
    stops.push(() => w.stop());
    await q5.createQueue(P, 'jobs');
    await q5.postMessages(P, 'jobs', randomUUID(), Array.from({ length: 12 }, (_, i) => ({ ttl: 300, body: { n: i } })));
    await expect.poll(() => w.status().succeeded, { timeout: 30_000 }).toBe(12);
    await expect.poll(async () => (await q5.getStats(P, 'jobs')).total, { timeout: 10_000 }).toBe(0);
  }, 60_000);

  it('one slow message does not stop the other slots: 6 fast ones finish while it runs', async () => {
    const w = start(gated(false), 3);
    await post('jobs', ['slow']);
    await expect.poll(() => w.status().in_flight, { timeout: 20_000 }).toBe(1);
    await post('jobs', ['f1', 'f2', 'f3', 'f4', 'f5', 'f6']);
    await expect.poll(() => w.status().succeeded, { timeout: 30_000 }).toBe(6);
    expect(w.status().in_flight).toBe(1);
    await writeFile(join(tmp.path, 'go'), '');
    await expect.poll(() => w.status().succeeded, { timeout: 20_000 }).toBe(7);
  }, 60_000);
});
