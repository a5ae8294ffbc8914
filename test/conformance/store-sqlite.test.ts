import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { SqliteStore } from '../../src/store/sqlite.js';
import type { Op, Store } from '../../src/store/store.js';
import { describeStoreConformance } from './store-suite.js';
import type { StoreHarness } from './store-suite.js';

/** Small, so that `compact` can push old revisions out of the watch ring. */
const WATCH_HISTORY = 64;

/** Forgets history the way this engine does: by overflowing the watch ring. */
async function compact(store: Store): Promise<void> {
  for (let i = 0; i <= WATCH_HISTORY; i++) await store.txn([], [{ type: 'put', key: `/__compact/${i}`, value: 'x' }]);
}

async function openFileStore(): Promise<StoreHarness & { path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'tether-store-'));
  const path = join(dir, 'store.db');
  let current: SqliteStore = openSqliteStore({ path, watchHistory: WATCH_HISTORY });
  return {
    store: current,
    path,
    reopen: async () => {
      await current.close();
      current = openSqliteStore({ path, watchHistory: WATCH_HISTORY });
      return current;
    },
    cleanup: async () => {
      await current.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function openMemoryStore(): Promise<StoreHarness> {
  const store = openSqliteStore({ path: ':memory:', watchHistory: WATCH_HISTORY });
  return { store, cleanup: () => store.close() };
}

describeStoreConformance('sqlite (file)', openFileStore, { volatileLeases: true, compact });
describeStoreConformance('sqlite (:memory:)', openMemoryStore, { volatileLeases: true, compact, reopens: false });

describe('sqlite store specifics', () => {
  let harness: (StoreHarness & { path: string }) | undefined;
  afterEach(async () => {
    await harness?.cleanup();
    harness = undefined;
  });

  /** Reads the kv table of a closed store's file. */
  function diskKeys(path: string): string[] {
    const db = new Database(path, { readonly: true });
    try {
      return db.prepare<[], string>('SELECT key FROM kv ORDER BY key').pluck().all();
    } finally {
      db.close();
    }
  }

  it('never writes lease-bound keys to the file, and moves a key between memory and disk', async () => {
    harness = await openFileStore();
    const { store, path } = harness;
    const lease = await store.grantLease(60_000);
    await store.txn([], [{ type: 'put', key: '/a', value: '1' }]);
    await store.txn([], [{ type: 'put', key: '/a', value: '2', lease }]);
    await store.txn([], [{ type: 'put', key: '/b', value: '1', lease }]);
    await store.txn([], [{ type: 'put', key: '/c', value: '1', lease }]);
    await store.txn([], [{ type: 'put', key: '/b', value: '2' }]);
    expect((await store.range('/')).entries.map((e) => [e.key, e.lease])).toEqual([
      ['/a', lease],
      ['/b', 0],
      ['/c', lease],
    ]);
    await store.close();
    expect(diskKeys(path)).toEqual(['/b']);
  });

  it('never reuses a lease id after a reopen', async () => {
    harness = await openFileStore();
    const before = await harness.store.grantLease(60_000);
    const store = await harness.reopen!();
    const after = await store.grantLease(60_000);
    expect(after).not.toBe(before);
    expect(Number.isSafeInteger(after) && after > 0).toBe(true);
  });

  it('persists the revision of volatile-only txns on close', async () => {
    harness = await openFileStore();
    const lease = await harness.store.grantLease(60_000);
    await harness.store.txn([], [{ type: 'put', key: '/d', value: '1' }]);
    const { revision } = await harness.store.txn([], [{ type: 'put', key: '/v', value: '1', lease }]);
    const store = await harness.reopen!();
    expect(await store.revision()).toBe(revision);
  });

  it('rejects a put bound to an unknown lease, writing nothing', async () => {
    harness = await openFileStore();
    const { store } = harness;
    const ops: Op[] = [
      { type: 'put', key: '/a', value: '1' },
      { type: 'put', key: '/b', value: '1', lease: 42 },
    ];
    const err = await store.txn([], ops).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'store.lease_not_found' });
    expect(await store.count('/')).toBe(0);
    expect(await store.revision()).toBe(0);
  });

  it('rejects calls after close, and close is idempotent', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    await store.close();
    await store.close();
    await expect(store.get('/a')).rejects.toMatchObject({ code: 'store.closed' });
  });

  it('expires many leases with one timer', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const ctrl = new AbortController();
    try {
      let deletes = 0;
      await store.watch('/many/', 1, (evs) => (deletes += evs.filter((e) => e.type === 'delete').length), ctrl.signal);
      for (let i = 0; i < 2_000; i++) {
        const lease = await store.grantLease(200 + (i % 100));
        await store.txn([], [{ type: 'put', key: `/many/${i}`, value: 'x', lease }]);
      }
      await vi.waitFor(() => expect(deletes).toBe(2_000), { timeout: 10_000, interval: 20 });
      expect(await store.count('/many/')).toBe(0);
    } finally {
      ctrl.abort();
      await store.close();
    }
  });
});
