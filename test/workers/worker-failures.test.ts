import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ActionSpec, WorkerSpec } from '../../src/manifest/model.js';
import { silentLogger } from '../../src/observability/logger.js';
import { TetherError } from '../../src/lib/errors.js';
import { queueFault } from '../../src/queues/faults.js';
import type { Queues } from '../../src/queues/queues.js';
import { QueueService } from '../../src/queues/service.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';
import { Worker } from '../../src/workers/worker.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * Review 16 M2: a retry or dead letter that cannot be posted must not turn
 * `attempts` into unbounded re-runs. A real QueueService (SQLite) with a small
 * post size limit, real child processes as actions.
 */

const P = 'p1';
const POST_BYTES = 3000;
let store: Store;
let queues: QueueService;
let tmp: TempDir;
const workers: Worker[] = [];

beforeEach(async () => {
  store = openSqliteStore({ path: ':memory:' });
  queues = await QueueService.open(store, { logger: silentLogger(), limits: { minClaimTtl: 1, minClaimGrace: 1, maxMessagePostBytes: POST_BYTES } });
  tmp = await createTempDir('worker-failures');
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await queues.close();
  await store.close();
  await tmp.remove();
});

/** Appends its stdin as a line to `file`, prints 3000 characters (a long last_error) and fails. */
function failing(file: string): ActionSpec {
  const script = `line=$(cat); printf '%s\\n' "$line" >> '${file}'; head -c 3000 /dev/zero | tr '\\0' e; exit 1`;
  return { kind: 'exec', argv: ['sh', '-c', script], shell: false, timeoutMs: 30_000 };
}

function spec(action: ActionSpec, over: Partial<WorkerSpec> = {}): WorkerSpec {
  return {
    name: 'w',
    queue: 'jobs',
    concurrency: 1,
    ttlSec: 30,
    graceSec: 30,
    filter: { types: null, serviceTag: null, serviceIdPrefix: null, keyPrefix: null, match: null },
    action: { name: null, action },
    attempts: 3,
    deadLetter: 'dead',
    retryDelayMs: 10,
    origin: 'test:1',
    ...over,
  };
}

function start(s: WorkerSpec, q: Queues = queues): Worker {
  const w = new Worker(s, { queues: q, project: P, log: silentLogger() });
  workers.push(w);
  return w;
}

async function runs(file: string): Promise<Array<{ attempt: number; id: string }>> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as { attempt: number; id: string });
}

async function post(body: unknown): Promise<string> {
  await queues.createQueue(P, 'jobs');
  const [id] = await queues.postMessages(P, 'jobs', randomUUID(), [{ ttl: 300, body }]);
  return id as string;
}

async function dead(): Promise<Array<Record<string, unknown>>> {
  const page = await queues.listMessages(P, 'dead', { clientId: randomUUID(), echo: true });
  return page.messages.map((m) => m.body as Record<string, unknown>);
}

describe('Worker: retries and dead letters that do not fit (review 16 M2)', () => {
  it('a body whose retry envelope is too large with the full last_error: retried with a short one, run exactly `attempts` times', async () => {
    const file = join(tmp.path, 'runs');
    const w = start(spec(failing(file)));
    const id = await post('b'.repeat(2500));
    await expect.poll(() => w.status().dead_lettered, { timeout: 30_000 }).toBe(1);
    expect((await runs(file)).map((r) => r.attempt)).toEqual([1, 2, 3]);
    expect((await runs(file)).every((r) => r.id === id)).toBe(true);
    await expect.poll(async () => (await queues.getStats(P, 'jobs')).total, { timeout: 10_000 }).toBe(0);
    const letters = await dead();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ id, queue: 'jobs', attempts: 3, body: 'b'.repeat(2500) });
    expect(String(letters[0]?.last_error).length).toBeLessThanOrEqual(201);
    expect(w.status()).toMatchObject({ failed: 3, dead_lettered: 1, claimed: 3 });
  }, 60_000);

  it('a body no retry can carry: dead-lettered at once as a stub (body_omitted), run once, deleted', async () => {
    const file = join(tmp.path, 'runs');
    const w = start(spec(failing(file)));
    const id = await post('b'.repeat(2900));
    await expect.poll(() => w.status().dead_lettered, { timeout: 30_000 }).toBe(1);
    await expect.poll(async () => (await queues.getStats(P, 'jobs')).total, { timeout: 10_000 }).toBe(0);
    expect((await runs(file)).map((r) => r.attempt)).toEqual([1]);
    const letters = await dead();
    expect(letters).toEqual([expect.objectContaining({ id, queue: 'jobs', attempts: 1, body_omitted: true })]);
    expect(letters[0]).not.toHaveProperty('body');
  }, 60_000);

  it('no dead-letter queue and no room for a retry: dropped with an error, not run again', async () => {
    const file = join(tmp.path, 'runs');
    const w = start(spec(failing(file), { deadLetter: null }));
    await post('b'.repeat(2900));
    await expect.poll(() => w.status().dead_lettered, { timeout: 30_000 }).toBe(1);
    await expect.poll(async () => (await queues.getStats(P, 'jobs')).total, { timeout: 10_000 }).toBe(0);
    expect(await runs(file)).toHaveLength(1);
    expect(w.status().claimed).toBe(1);
  }, 60_000);

  it('a retry post that fails with 503 is tried again while the claim is held: no release, the count is kept', async () => {
    const file = join(tmp.path, 'runs');
    let refused = 0;
    // The server's queues, but the first two retry posts answer 503 (an etcd leader change).
    const flaky = new Proxy(queues, {
      get(target, prop, receiver) {
        if (prop === 'postMessages') {
          return async (...args: Parameters<Queues['postMessages']>) => {
            if (args[1] === 'jobs' && refused < 2) {
              refused += 1;
              throw queueFault('unavailable', 'try again');
            }
            return target.postMessages(...args);
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const w = start(spec(failing(file), { attempts: 2 }), flaky);
    const id = await post({ small: true });
    await expect.poll(() => w.status().dead_lettered, { timeout: 30_000 }).toBe(1);
    expect(refused).toBe(2);
    expect((await runs(file)).map((r) => r.attempt)).toEqual([1, 2]);
    // Claimed twice: the original (kept, renewed, then deleted) and the one retry; never a release and redelivery.
    expect(w.status().claimed).toBe(2);
    expect(await dead()).toEqual([expect.objectContaining({ id, attempts: 2 })]);
  }, 60_000);

  it('R16: a dead-letter queue deleted while the worker runs is created again: the letter lands, the slot does not hang on 404s', async () => {
    const file = join(tmp.path, 'runs');
    const w = start(spec(failing(file), { attempts: 1 }));
    await expect.poll(async () => (await queues.listQueues(P)).queues.map((q) => q.name).sort(), { timeout: 10_000 }).toEqual(['dead', 'jobs']);
    await queues.deleteQueue(P, 'dead');
    const id = await post({ small: true });
    await expect.poll(() => w.status().dead_lettered, { timeout: 30_000 }).toBe(1);
    expect(await dead()).toEqual([expect.objectContaining({ id, attempts: 1, body: { small: true } })]);
    await expect.poll(async () => (await queues.getStats(P, 'jobs')).total, { timeout: 10_000 }).toBe(0);
    expect(w.status()).toMatchObject({ in_flight: 0, claimed: 1 });
  }, 60_000);

  it('R16: a dead letter refused with 401 (a token mismatch for a moment) is held and posted again, not dropped', async () => {
    const file = join(tmp.path, 'runs');
    let refused = 0;
    const flaky = new Proxy(queues, {
      get(target, prop, receiver) {
        if (prop === 'postMessages') {
          return async (...args: Parameters<Queues['postMessages']>) => {
            if (args[1] === 'dead' && refused < 2) {
              refused += 1;
              throw new TetherError('client.unauthorized', 'the server refused the token (401)');
            }
            return target.postMessages(...args);
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const w = start(spec(failing(file), { attempts: 1 }), flaky);
    const id = await post({ small: true });
    await expect.poll(() => w.status().dead_lettered, { timeout: 30_000 }).toBe(1);
    expect(refused).toBe(2);
    // The full letter (first form), not a stub, and not dropped.
    expect(await dead()).toEqual([expect.objectContaining({ id, attempts: 1, body: { small: true } })]);
    expect(await runs(file)).toHaveLength(1);
  }, 60_000);
});
