import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';
import type { Op, TxnResult } from '../../src/store/store.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * Group commit: txns issued in one turn of the event loop share one SQLite
 * transaction (one fsync), and still behave as if they ran one after the
 * other, each acknowledged only once the shared commit is durable.
 */

let tmp: TempDir;
let store: SqliteStore;
let path: string;

beforeEach(async () => {
  tmp = await createTempDir('group-commit');
  path = join(tmp.path, 'store.db');
  store = openSqliteStore({ path });
});
afterEach(async () => {
  await store.close();
  await tmp.remove();
});

const put = (key: string, value = 'v'): Op => ({ type: 'put', key, value });

describe('sqlite group commit', () => {
  it('commits txns issued together in one durable commit, each at its own revision, in call order', async () => {
    const rev0 = await store.revision();
    const before = store.commitStats();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.txn([], [put(`/k/${i}`), put(`/k/${i}/x`)])));
    expect(results.map((r) => r.revision)).toEqual(Array.from({ length: 50 }, (_, i) => rev0 + 1 + i));
    expect(results.every((r) => r.succeeded)).toBe(true);
    const after = store.commitStats();
    expect(after.txns - before.txns).toBe(50);
    expect(after.commits - before.commits).toBe(1);
    expect((await store.get('/k/49'))?.modRevision).toBe(rev0 + 50);
  });

  it('a txn sees the writes of the txns before it in its group', async () => {
    const rev0 = await store.revision();
    const [a, b, c, d] = await Promise.all([
      store.txn([{ key: '/a', op: 'absent' }], [put('/a', '1')]),
      store.txn([{ key: '/a', op: 'absent' }], [put('/a', '2')]),
      store.txn([{ key: '/a', op: 'modRevision', revision: rev0 + 1 }], [put('/a', '3')]),
      store.txn([], [{ type: 'deleteRange', start: '/', end: '/\uffff' }, put('/b', '4')]),
    ]);
    expect([a!.succeeded, b!.succeeded, c!.succeeded, d!.succeeded]).toEqual([true, false, true, true]);
    expect([a!.revision, b!.revision, c!.revision, d!.revision]).toEqual([rev0 + 1, rev0 + 1, rev0 + 2, rev0 + 3]);
    expect((await store.range('/')).entries.map((e) => [e.key, e.value])).toEqual([['/b', '4']]);
  });

  it('a failed compare, a refused op or a failed row write in one txn leaves the others of its group alone', async () => {
    const settled = await Promise.allSettled([
      store.txn([], [put('/ok/1')]),
      store.txn([{ key: '/missing', op: 'modRevision', revision: 7 }], [put('/no/1')]),
      store.txn([], [put('/no/2'), { type: 'put', key: '/no/3', value: 'x', lease: 42 }]),
      // A value SQLite cannot bind (not a string): only this txn's savepoint is rolled back.
      store.txn([], [put('/no/4'), { type: 'put', key: '/no/5', value: {} as unknown as string }]),
      store.txn([], [put('/ok/2')]),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseFulfilledResult<TxnResult>).value.succeeded).toBe(false);
    expect((settled[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'store.lease_not_found' });
    expect((settled[3] as PromiseRejectedResult).reason).toMatchObject({ code: 'store.failed' });
    const keys = (await store.range('/')).entries.map((e) => e.key);
    expect(keys).toEqual(['/ok/1', '/ok/2']);
    const revs = settled.flatMap((s) => (s.status === 'fulfilled' && s.value.succeeded ? [s.value.revision] : []));
    expect(revs[1]).toBe(revs[0]! + 1);
    await store.close();
    store = openSqliteStore({ path });
    expect((await store.range('/')).entries.map((e) => e.key)).toEqual(['/ok/1', '/ok/2']);
  });

  it('nothing is visible to reads or watchers before the commit', async () => {
    const seen: number[] = [];
    const ac = new AbortController();
    await store.watch('/w/', 1, (evs) => seen.push(...evs.map((e) => e.revision)), ac.signal);
    const pending = store.txn([], [put('/w/1')]);
    expect(await store.get('/w/1')).toBeUndefined();
    expect(seen).toEqual([]);
    const { revision } = await pending;
    expect(seen).toEqual([revision]);
    expect((await store.get('/w/1'))?.value).toBe('v');
    ac.abort();
  });

  it('a txn that only touches lease-bound keys is applied at once, after any txn queued before it', async () => {
    const lease = await store.grantLease(60_000);
    const commits = store.commitStats().commits;
    const swap = store.txn([{ key: '/t', op: 'absent' }], [{ type: 'put', key: '/t', value: 'token1', lease }]);
    // No wait for a group commit (a heartbeat's token swap): visible before the next turn of the event loop.
    expect((await store.get('/t'))?.value).toBe('token1');
    expect((await swap).succeeded).toBe(true);
    expect(store.commitStats().commits).toBe(commits);

    const durable = store.txn([], [put('/d')]);
    const after = store.txn([{ key: '/d', op: 'absent' }], [{ type: 'put', key: '/t', value: 'token2', lease }]);
    expect((await durable).succeeded).toBe(true);
    expect((await after).succeeded).toBe(false);
    expect((await store.get('/t'))?.value).toBe('token1');
  });

  it('a key put and then deleted or bound to a lease in the same txn leaves no row behind, on disk before or not', async () => {
    await store.txn([], [put('/old/a', '0'), put('/old/b', '0')]);
    const lease = await store.grantLease(60_000);
    const { succeeded } = await store.txn(
      [],
      [
        put('/old/a', '1'),
        { type: 'delete', key: '/old/a' },
        put('/old/b', '1'),
        { type: 'put', key: '/old/b', value: '2', lease },
        put('/new/c', '1'),
        { type: 'deleteRange', start: '/new/', end: '/new/\uffff' },
        put('/new/d', '1'),
        { type: 'put', key: '/new/d', value: '2', lease },
      ],
    );
    expect(succeeded).toBe(true);
    expect((await store.range('/')).entries.map((e) => [e.key, e.value, e.lease])).toEqual([
      ['/new/d', '2', lease],
      ['/old/b', '2', lease],
    ]);
    // Lease-bound keys are not on disk: after a reopen nothing is left.
    await store.close();
    store = openSqliteStore({ path });
    expect((await store.range('/')).entries).toEqual([]);
  });

  it('close() commits the txns still queued', async () => {
    const pending = store.txn([], [put('/late')]);
    await store.close();
    expect((await pending).succeeded).toBe(true);
    await expect(store.txn([], [put('/later')])).rejects.toMatchObject({ code: 'store.closed' });
    store = openSqliteStore({ path });
    expect((await store.get('/late'))?.value).toBe('v');
  });

  it('every acknowledged txn survives SIGKILL of the process in the middle of group commits', async () => {
    await store.close();
    const script = join(tmp.path, 'writer.mts');
    const storeModule = fileURLToPath(new URL('../../src/store/sqlite.ts', import.meta.url));
    // 64 concurrent writers, each a chain of txns; an acknowledgement is printed only after the txn resolved.
    await writeFile(
      script,
      `import { openSqliteStore } from ${JSON.stringify(storeModule)};
const store = openSqliteStore({ path: ${JSON.stringify(path)} });
const writer = async (w) => { for (let i = 0; ; i++) { await store.txn([], [{ type: 'put', key: '/c/' + w + '/' + i, value: 'x'.repeat(200) }]); process.stdout.write(w + ' ' + i + '\\n'); } };
for (let w = 0; w < 64; w++) void writer(w);
`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked = new Map<number, number>();
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const [w, i] = line.split(' ').map(Number);
      acked.set(w!, Math.max(acked.get(w!) ?? -1, i!));
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await expect.poll(() => [...acked.values()].reduce((a, b) => a + b + 1, 0), { timeout: 30_000, interval: 10 }).toBeGreaterThan(2_000);
    child.kill('SIGKILL');
    await exited;
    lines.close();

    store = openSqliteStore({ path });
    for (const [w, last] of acked) {
      const keys = new Set((await store.range(`/c/${w}/`)).entries.map((e) => e.key));
      // A chain writes i only after i - 1 was acknowledged: every acknowledged one is there.
      for (let i = 0; i <= last; i++) expect(keys.has(`/c/${w}/${i}`), `/c/${w}/${i}`).toBe(true);
    }
  }, 60_000);
});
