import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';

/**
 * Range limits are written into the SQL, one prepared statement per limit
 * (sqlite-schema.ts): every limit must still cut where it says, past the
 * cache's size too, and limits no SQL integer literal can spell must not break.
 */
describe('SQLite store range limits', () => {
  let dir: string;
  let store: SqliteStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-range-'));
    store = openSqliteStore({ path: join(dir, 'store.db') });
    const ops = Array.from({ length: 100 }, (_, i) => ({ type: 'put' as const, key: `/r/${String(i).padStart(3, '0')}`, value: `v${i}` }));
    await store.txn([], ops);
  });

  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('cuts at each of more distinct limits than are kept prepared', async () => {
    for (let limit = 1; limit <= 100; limit++) {
      const { entries } = await store.range('/r/', { limit });
      expect(entries.length).toBe(limit);
      expect(entries[limit - 1]?.key).toBe(`/r/${String(limit - 1).padStart(3, '0')}`);
    }
    // Again from the start, now served by the kept statements and the per-call ones.
    expect((await store.range('/r/', { from: '/r/050', limit: 3 })).entries.map((e) => e.value)).toEqual(['v50', 'v51', 'v52']);
    expect((await store.range('/r/', { from: '/r/090', limit: 95 })).entries).toHaveLength(10);
  });

  it('takes fractional, huge and absent limits', async () => {
    expect((await store.range('/r/', { limit: 2.7 })).entries.map((e) => e.key)).toEqual(['/r/000', '/r/001']);
    expect((await store.range('/r/', { limit: 2 ** 60 })).entries).toHaveLength(100);
    expect((await store.range('/r/', { limit: 1e21 })).entries).toHaveLength(100);
    expect((await store.range('/r/', {})).entries).toHaveLength(100);
    expect((await store.range('/r/', { limit: 0 })).entries).toHaveLength(100);
  });
});
