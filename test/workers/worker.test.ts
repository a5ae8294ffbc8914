import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ActionSpec, WorkerSpec } from '../../src/manifest/model.js';
import { silentLogger } from '../../src/observability/logger.js';
import { QueueService } from '../../src/queues/service.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';
import { Worker } from '../../src/workers/worker.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * The worker loop over a real QueueService (SQLite in memory) with real
 * child processes as actions: delete on success, retries counted in the
 * envelope, dead letter after the last attempt, filters, release on stop.
 */

const P = 'p1';
let store: Store;
let queues: QueueService;
let tmp: TempDir;
const workers: Worker[] = [];

beforeEach(async () => {
  store = openSqliteStore({ path: ':memory:' });
  queues = await QueueService.open(store, { logger: silentLogger(), limits: { minClaimTtl: 1, minClaimGrace: 1 } });
  tmp = await createTempDir('worker');
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await queues.close();
  await store.close();
  await tmp.remove();
});

/** An exec action that appends its stdin as one line to `file` (one write: O_APPEND keeps lines whole) and exits with `exit`. */
function appendAction(file: string, exit = 0, sleepSec = 0): ActionSpec {
  const script = `line=$(cat); printf '%s\\n' "$line" >> '${file}'; ${sleepSec > 0 ? `sleep ${sleepSec}; ` : ''}exit ${exit}`;
  return { kind: 'exec', argv: ['sh', '-c', script], shell: false, timeoutMs: 30_000 };
}

function spec(action: ActionSpec, over: Partial<WorkerSpec> = {}): WorkerSpec {
  return {
    name: 'w',
    queue: 'jobs',
    concurrency: 2,
    ttlSec: 5,
    graceSec: 5,
    filter: { types: null, serviceTag: null, serviceIdPrefix: null, keyPrefix: null, match: null },
    action: { name: null, action },
    attempts: 3,
    deadLetter: null,
    retryDelayMs: 10,
    origin: 'test:1',
    ...over,
  };
}

function start(s: WorkerSpec): Worker {
  const w = new Worker(s, { queues, project: P, log: silentLogger() });
  workers.push(w);
  return w;
}

async function lines(file: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function post(queue: string, bodies: unknown[]): Promise<string[]> {
  await queues.createQueue(P, queue);
  return queues.postMessages(P, queue, randomUUID(), bodies.map((body) => ({ ttl: 300, body })));
}

async function total(queue: string): Promise<number> {
  return (await queues.getStats(P, queue)).total;
}

describe('Worker', () => {
  it('runs the action once per message with the message as JSON on stdin, then deletes it', async () => {
    const file = join(tmp.path, 'out');
    const w = start(spec(appendAction(file)));
    const ids = await post('jobs', [{ n: 1 }, { n: 2 }, { n: 3 }]);
    await expect.poll(async () => (await lines(file)).length, { timeout: 20_000 }).toBe(3);
    const got = await lines(file);
    expect(got.map((l) => l.id).sort()).toEqual([...ids].sort());
    expect(got.map((l) => (l.body as { n: number }).n).sort()).toEqual([1, 2, 3]);
    expect(got.every((l) => l.attempt === 1 && l.queue === 'jobs' && l.message_id === l.id)).toBe(true);
    await expect.poll(() => total('jobs'), { timeout: 10_000 }).toBe(0);
    expect(w.status()).toMatchObject({ claimed: 3, succeeded: 3, failed: 0, dead_lettered: 0, in_flight: 0, last_error: null });
  }, 30_000);

  it('a failing action is retried with the attempt counted, then dead-lettered with its last error', async () => {
    const file = join(tmp.path, 'out');
    const w = start(spec(appendAction(file, 3), { deadLetter: 'jobs-dead' }));
    const [id] = await post('jobs', [{ job: 'boom' }]);
    await expect.poll(() => w.status().dead_lettered, { timeout: 20_000 }).toBe(1);
    const runs = await lines(file);
    expect(runs.map((r) => r.attempt)).toEqual([1, 2, 3]);
    expect(runs.every((r) => r.id === id && (r.body as { job: string }).job === 'boom')).toBe(true);
    // Each retry was a new message: its own id.
    expect(new Set(runs.map((r) => r.message_id)).size).toBe(3);
    await expect.poll(() => total('jobs'), { timeout: 10_000 }).toBe(0);
    const dead = await queues.listMessages(P, 'jobs-dead', { clientId: randomUUID(), echo: true });
    expect(dead.messages).toHaveLength(1);
    expect(dead.messages[0]?.body).toMatchObject({ id, queue: 'jobs', attempts: 3, body: { job: 'boom' } });
    expect(String((dead.messages[0]?.body as { last_error: string }).last_error)).toMatch(/exit status 3/);
    expect(w.status()).toMatchObject({ claimed: 3, succeeded: 0, failed: 3, dead_lettered: 1 });
    expect(w.status().last_error).toMatch(/exit status 3/);
  }, 30_000);

  it('a message that fails once and then succeeds is not dead-lettered', async () => {
    const file = join(tmp.path, 'out');
    const marker = join(tmp.path, 'failed-once');
    // Fails while the marker is missing (and creates it), succeeds after.
    const script = `line=$(cat); printf '%s\\n' "$line" >> '${file}'; if [ -e '${marker}' ]; then exit 0; fi; touch '${marker}'; exit 1`;
    const w = start(spec({ kind: 'exec', argv: ['sh', '-c', script], shell: false, timeoutMs: 30_000 }, { deadLetter: 'jobs-dead' }));
    await post('jobs', ['once']);
    await expect.poll(() => w.status().succeeded, { timeout: 20_000 }).toBe(1);
    expect((await lines(file)).map((r) => r.attempt)).toEqual([1, 2]);
    expect(w.status()).toMatchObject({ failed: 1, dead_lettered: 0 });
    await expect.poll(() => total('jobs'), { timeout: 10_000 }).toBe(0);
  }, 30_000);

  it('messages that do not match the filter are deleted without running the action', async () => {
    const file = join(tmp.path, 'out');
    const w = start(spec(appendAction(file), { filter: { types: ['service.timeout'], serviceTag: 'web', serviceIdPrefix: null, keyPrefix: null, match: null } }));
    await post('jobs', [
      { type: 'service.timeout', payload: { id: 'web-1', tags: ['web'] } },
      { type: 'service.join', payload: { id: 'web-2', tags: ['web'] } },
      { type: 'service.timeout', payload: { id: 'db-1', tags: ['db'] } },
    ]);
    await expect.poll(() => w.status().claimed, { timeout: 20_000 }).toBe(3);
    await expect.poll(() => total('jobs'), { timeout: 10_000 }).toBe(0);
    const runs = await lines(file);
    expect(runs.map((r) => (r.body as { payload: { id: string } }).payload.id)).toEqual(['web-1']);
    expect(w.status()).toMatchObject({ succeeded: 1, skipped: 2 });
  }, 30_000);

  it('stop() aborts a running action and releases its message at once', async () => {
    const file = join(tmp.path, 'out');
    const w = start(spec(appendAction(file, 0, 30), { concurrency: 1, ttlSec: 60 }));
    await post('jobs', ['slow']);
    await expect.poll(() => w.status().in_flight, { timeout: 20_000 }).toBe(1);
    const started = Date.now();
    await w.stop();
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(w.status()).toMatchObject({ in_flight: 0, succeeded: 0 });
    // Released: free again well before the 60 s claim would have expired.
    expect(await queues.getStats(P, 'jobs')).toMatchObject({ free: 1, claimed: 0 });
  }, 30_000);
});
