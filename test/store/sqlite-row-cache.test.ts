import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RowCache } from '../../src/store/sqlite-row-cache.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';

/**
 * The SQLite store serves repeated reads of a durable key from memory
 * (sqlite-row-cache.ts). Every way a committed change can reach a key must
 * make the next read see it: a put, a delete, a range delete, a move to a
 * lease, group commits, and a key first read while absent.
 */
describe('SQLite store: reads after changes of cached rows', () => {
  let dir: string;
  let store: SqliteStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-rowcache-'));
    store = openSqliteStore({ path: join(dir, 'store.db') });
  });

  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('sees a put over a key it read before, and its new revision', async () => {
    await store.txn([], [{ type: 'put', key: 'k', value: 'v1' }]);
    const first = await store.get('k');
    expect(first?.value).toBe('v1');
    await store.txn([], [{ type: 'put', key: 'k', value: 'v2' }]);
    const second = await store.get('k');
    expect(second?.value).toBe('v2');
    expect(second?.modRevision).toBeGreaterThan(first?.modRevision ?? Infinity);
    // A compare against the revision read goes through: the cached revision is the committed one.
    const res = await store.txn([{ key: 'k', op: 'modRevision', revision: second?.modRevision ?? 0 }], [{ type: 'put', key: 'k', value: 'v3' }]);
    expect(res.succeeded).toBe(true);
    expect((await store.getMany(['k', 'nope'])).map((e) => e?.value)).toEqual(['v3', undefined]);
  });

  it('sees a key created after a read found it absent', async () => {
    expect(await store.get('late')).toBeUndefined();
    await store.txn([], [{ type: 'put', key: 'late', value: 'here' }]);
    expect((await store.get('late'))?.value).toBe('here');
  });

  it('sees deletes, range deletes and a failed compare that changed nothing', async () => {
    await store.txn([], [
      { type: 'put', key: 'd/1', value: 'a' },
      { type: 'put', key: 'd/2', value: 'b' },
      { type: 'put', key: 'x', value: 'c' },
    ]);
    expect((await store.getMany(['d/1', 'd/2', 'x'])).map((e) => e?.value)).toEqual(['a', 'b', 'c']);
    const failed = await store.txn([{ key: 'x', op: 'absent' }], [{ type: 'delete', key: 'x' }]);
    expect(failed.succeeded).toBe(false);
    expect((await store.get('x'))?.value).toBe('c');
    await store.txn([], [{ type: 'delete', key: 'x' }]);
    await store.txn([], [{ type: 'deleteRange', start: 'd/', end: 'd0' }]);
    expect(await store.getMany(['d/1', 'd/2', 'x'])).toEqual([undefined, undefined, undefined]);
  });

  it('sees a durable key move to a lease, and go with the lease', async () => {
    await store.txn([], [{ type: 'put', key: 'b', value: 'durable' }]);
    expect((await store.get('b'))?.lease).toBe(0);
    const lease = await store.grantLease(60_000);
    await store.txn([], [{ type: 'put', key: 'b', value: 'volatile', lease }]);
    expect(await store.get('b')).toMatchObject({ value: 'volatile', lease });
    await store.revokeLease(lease);
    expect(await store.get('b')).toBeUndefined();
  });

  it('sees the txns of one group commit, each over a key read before', async () => {
    await store.txn([], [{ type: 'put', key: 'g', value: '0' }]);
    expect((await store.get('g'))?.value).toBe('0');
    // Queued in one turn: they commit together, each putting over the one before.
    const all = Array.from({ length: 5 }, (_, i) => store.txn([], [{ type: 'put', key: 'g', value: String(i + 1) }]));
    await Promise.all(all);
    expect((await store.get('g'))?.value).toBe('5');
  });

  it('reads what is on disk after a reopen', async () => {
    await store.txn([], [{ type: 'put', key: 'r', value: 'kept' }]);
    expect((await store.get('r'))?.value).toBe('kept');
    await store.close();
    store = openSqliteStore({ path: join(dir, 'store.db') });
    expect((await store.get('r'))?.value).toBe('kept');
  });
});

describe('RowCache', () => {
  it('drops the oldest rows past its bound and forgets changed keys', () => {
    const cache = new RowCache(3);
    cache.set('a', { value: '1', modRevision: 1 });
    cache.set('b', null);
    cache.set('c', { value: '3', modRevision: 3 });
    cache.set('d', { value: '4', modRevision: 4 });
    expect(cache.size).toBe(3);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')).toBeNull();
    cache.forget(['b', 'c', 'zz']);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('c')).toBeUndefined();
    expect(cache.get('d')).toEqual({ value: '4', modRevision: 4 });
  });

  it('holds at most its bound of characters, dropping the oldest, and skips a row larger than all of it', () => {
    const cache = new RowCache(100, 30);
    cache.set('a', { value: 'x'.repeat(9), modRevision: 1 });
    cache.set('b', { value: 'y'.repeat(9), modRevision: 2 });
    cache.set('c', { value: 'z'.repeat(9), modRevision: 3 });
    expect(cache.heldChars).toBe(30);
    cache.set('d', { value: 'w'.repeat(9), modRevision: 4 });
    expect(cache.get('a')).toBeUndefined();
    expect(cache.heldChars).toBe(30);
    cache.set('big', { value: 'v'.repeat(40), modRevision: 5 });
    expect(cache.get('big')).toBeUndefined();
    expect(cache.size).toBe(3);
    // Replacing a key counts it once.
    cache.set('d', { value: 'w', modRevision: 6 });
    expect(cache.heldChars).toBe(22);
    cache.forget(['b', 'c', 'd']);
    expect(cache.heldChars).toBe(0);
  });
});
