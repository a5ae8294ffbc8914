import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkerSpec } from '../../src/manifest/model.js';
import { silentLogger } from '../../src/observability/logger.js';
import { QueueService } from '../../src/queues/service.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';
import { Workers } from '../../src/workers/workers.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/** Workers applied as a diff (the agent's reload): unchanged ones keep running, removed ones release what they hold. */

const P = 'p1';
let store: Store;
let queues: QueueService;
let tmp: TempDir;
let workers: Workers;

beforeEach(async () => {
  store = openSqliteStore({ path: ':memory:' });
  queues = await QueueService.open(store, { logger: silentLogger(), limits: { minClaimTtl: 1, minClaimGrace: 1 } });
  tmp = await createTempDir('workers');
  workers = new Workers({ queues, project: P, log: silentLogger() });
});

afterEach(async () => {
  await workers.close();
  await queues.close();
  await store.close();
  await tmp.remove();
});

function spec(name: string, queue: string, sleepSec: number): WorkerSpec {
  const out = join(tmp.path, `${name}.out`);
  const script = `line=$(cat); printf '%s\\n' "$line" >> '${out}'; sleep ${sleepSec}`;
  return {
    name,
    queue,
    concurrency: 1,
    ttlSec: 60,
    graceSec: 60,
    filter: { types: null, serviceTag: null, serviceIdPrefix: null, keyPrefix: null, match: null },
    action: { name: null, action: { kind: 'exec', argv: ['sh', '-c', script], shell: false, timeoutMs: 60_000 } },
    attempts: 3,
    deadLetter: null,
    retryDelayMs: 10,
    origin: 'a.yaml:1',
  };
}

async function runs(name: string): Promise<number> {
  const text = await readFile(join(tmp.path, `${name}.out`), 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '').length;
}

describe('Workers.apply', () => {
  it('keeps an unchanged worker (and its counts), stops a removed one releasing its message, starts a new one', async () => {
    const a = spec('a', 'qa', 0);
    const b = spec('b', 'qb', 60);
    expect(await workers.apply([a, b])).toEqual({ started: ['a', 'b'], stopped: [], kept: [] });
    await queues.createQueue(P, 'qa');
    await queues.createQueue(P, 'qb');
    await queues.postMessages(P, 'qa', randomUUID(), [{ ttl: 300, body: 1 }]);
    await queues.postMessages(P, 'qb', randomUUID(), [{ ttl: 300, body: 2 }]);
    await expect.poll(() => workers.status().find((s) => s.name === 'a')?.succeeded, { timeout: 20_000 }).toBe(1);
    await expect.poll(() => workers.status().find((s) => s.name === 'b')?.in_flight, { timeout: 20_000 }).toBe(1);

    // A different origin (the manifest was edited above it) is not a change.
    const c = spec('c', 'qc', 0);
    const diff = await workers.apply([{ ...a, origin: 'a.yaml:9' }, c]);
    expect(diff).toEqual({ started: ['c'], stopped: ['b'], kept: ['a'] });
    expect(workers.status().map((s) => s.name)).toEqual(['a', 'c']);
    expect(workers.status().find((s) => s.name === 'a')?.succeeded).toBe(1);
    // b's message was released at once (its claim had 60 s to run), not left to expire.
    expect(await queues.getStats(P, 'qb')).toMatchObject({ free: 1, claimed: 0 });
    expect(await runs('b')).toBe(1);

    // A changed worker restarts: stopped, then started with the new spec.
    expect(await workers.apply([{ ...a, concurrency: 2 }, c])).toEqual({ started: ['a'], stopped: ['a'], kept: ['c'] });
    await queues.postMessages(P, 'qa', randomUUID(), [{ ttl: 300, body: 3 }]);
    await expect.poll(() => runs('a'), { timeout: 20_000 }).toBe(2);
  }, 60_000);
});
