import { describe, expect, it, vi } from 'vitest';
import { flattenOps, openEtcdStore, type EtcdStore } from '../../src/store/etcd.js';
import type { Op, Store } from '../../src/store/store.js';
import { startEtcd, unansweredPort, uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { describeStoreConformance, type StoreHarness } from './store-suite.js';

const etcd = useEtcd();

/** A store on a fresh prefix of the shared etcd; reopen keeps the prefix. */
async function openStore(): Promise<StoreHarness> {
  const prefix = uniquePrefix();
  const open = () => openEtcdStore({ endpoints: etcd().endpoints, prefix, compactionIntervalMs: 0, watchHistory: WATCH_HISTORY });
  let current: EtcdStore = await open();
  return {
    store: current,
    reopen: async () => {
      await current.close();
      current = await open();
      return current;
    },
    cleanup: async () => {
      await current.txn([], [{ type: 'deleteRange', start: '', end: '\uffff' }]).catch(() => undefined);
      await current.close();
    },
  };
}

/** Small, so that `compact` can push old revisions out of the store's watch ring. */
const WATCH_HISTORY = 64;

/** Forgets history the way this engine does: etcd compacts, and the local watch ring overflows. */
async function compact(store: Store): Promise<void> {
  for (let i = 0; i <= WATCH_HISTORY; i++) await store.txn([], [{ type: 'put', key: `/__compact/${i}`, value: 'x' }]);
  const rev = await store.revision();
  const res = await fetch(`${etcd().endpoints[0]}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: String(rev), physical: true }) });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

// etcd's shortest lease is about 2 s with these timings.
describeStoreConformance('etcd', openStore, { leaseTtlMs: 2_000, compact });

describe('etcd store specifics', () => {
  it('flattens a txn so no key is touched twice, with the outcome of applying the ops in order', () => {
    const ops: Op[] = [
      { type: 'put', key: '/a', value: '1' },
      { type: 'delete', key: '/b' },
      { type: 'put', key: '/a', value: '2' },
      { type: 'deleteRange', start: '/c/', end: '/c/\uffff' },
      { type: 'put', key: '/c/m', value: 'kept' },
      { type: 'delete', key: '/c/x' },
    ];
    expect(flattenOps(ops)).toEqual([
      { type: 'delete', key: '/b' },
      { type: 'put', key: '/a', value: '2' },
      { type: 'deleteRange', start: '/c/', end: '/c/m' },
      { type: 'deleteRange', start: '/c/m\0', end: '/c/\uffff' },
      { type: 'put', key: '/c/m', value: 'kept' },
    ]);
  });

  it('applies such a txn in etcd as the SQLite engine would', async () => {
    const h = await openStore();
    try {
      await h.store.txn([], [{ type: 'put', key: '/c/a', value: 'x' }, { type: 'put', key: '/c/z', value: 'x' }]);
      const r = await h.store.txn([], [
        { type: 'put', key: '/c/a', value: '1' },
        { type: 'deleteRange', start: '/c/', end: '/c/\uffff' },
        { type: 'put', key: '/c/m', value: '2' },
        { type: 'put', key: '/c/m', value: '3' },
      ]);
      expect(r.succeeded).toBe(true);
      expect((await h.store.range('/c/')).entries.map((e) => [e.key, e.value])).toEqual([['/c/m', '3']]);
    } finally {
      await h.cleanup();
    }
  });

  it('moves on from a member whose connection never completes within timeoutMs', async () => {
    const hole = await unansweredPort();
    try {
      const started = Date.now();
      const store = await openEtcdStore({
        endpoints: [`http://127.0.0.1:${hole.port}`, etcd().endpoints[0]!],
        prefix: uniquePrefix(),
        timeoutMs: 500,
        compactionIntervalMs: 0,
      });
      await store.close();
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      hole.stop();
    }
  });

  it('after etcd compacted past its watch stream, refuses watches from before that, even once its ring turns over', async () => {
    const own = await startEtcd(1);
    const stores: EtcdStore[] = [];
    try {
      const watched = await openEtcdStore({ endpoints: own.endpoints, prefix: 'a/', watchHistory: 4, compactionIntervalMs: 0, timeoutMs: 500 });
      const other = await openEtcdStore({ endpoints: own.endpoints, prefix: 'b/', compactionIntervalMs: 0 });
      stores.push(watched, other);
      const batches: number[][] = [];
      const live = new AbortController();
      await watched.watch('', (await watched.revision()) + 1, (evs) => batches.push(evs.map((e) => e.revision)), live.signal);
      const first = (await watched.txn([], [{ type: 'put', key: '/k', value: '0' }])).revision;
      for (let i = 1; i < 4; i++) await watched.txn([], [{ type: 'put', key: '/k', value: String(i) }]);
      await vi.waitFor(() => expect(batches.flat()).toHaveLength(4)); // its ring of 4 is full
      // Changes it does not follow (another prefix), then etcd compacts past its stream's position.
      for (let i = 0; i < 3; i++) await other.txn([], [{ type: 'put', key: '/x', value: String(i) }]);
      const res = await fetch(`${own.endpoints[0]}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: String(await other.revision()), physical: true }) });
      await res.arrayBuffer();
      // Its stream breaks and resumes from a compacted revision: watchers are told to re-read.
      await own.members[0]!.kill();
      await own.members[0]!.restart();
      await vi.waitFor(() => expect(batches.some((b) => b.length === 0)).toBe(true), { timeout: 10_000, interval: 50 });
      const after = (await watched.txn([], [{ type: 'put', key: '/k', value: 'after' }])).revision;
      await vi.waitFor(() => expect(batches.flat()).toContain(after)); // pushed out the ring's oldest event
      // The revisions between `first` and the reset are gone: a watch from there must not look complete.
      const err = await watched.watch('', first + 1, () => undefined, live.signal).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'store.compacted' });
      live.abort();
    } finally {
      for (const s of stores) await s.close();
      await own.stop();
    }
  }, 40_000);

  it('fails fast with store.unavailable when no endpoint answers', async () => {
    const started = Date.now();
    const err = await openEtcdStore({ endpoints: ['http://127.0.0.1:9'], timeoutMs: 500 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'store.unavailable' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('etcd store on a 3-member cluster', () => {
  it('moves its watch off a member that stops answering (hung or cut off), so watchers still get changes', async () => {
    const cluster = await startEtcd(3);
    const prefix = uniquePrefix();
    const stores: EtcdStore[] = [];
    try {
      // Watches through member 0 (the first endpoint); the writer never uses it.
      const watched = await openEtcdStore({ endpoints: cluster.endpoints, prefix, timeoutMs: 500, compactionIntervalMs: 0 });
      stores.push(watched);
      const writer = await openEtcdStore({ endpoints: cluster.endpoints.slice(1), prefix, timeoutMs: 2_000, compactionIntervalMs: 0 });
      stores.push(writer);
      const seen: string[] = [];
      const ac = new AbortController();
      await watched.watch('/w/', (await watched.revision()) + 1, (evs) => seen.push(...evs.map((e) => e.key)), ac.signal);
      await writer.txn([], [{ type: 'put', key: '/w/before', value: '1' }]);
      await vi.waitFor(() => expect(seen).toEqual(['/w/before']), { timeout: 5_000, interval: 20 });

      cluster.members[0]!.pause(); // the stream stays open, silent: no error, no end
      // (if member 0 led, the others elect a new leader first; a put may be repeated)
      await vi.waitFor(() => writer.txn([], [{ type: 'put', key: '/w/during', value: '2' }]), { timeout: 15_000, interval: 100 });
      await vi.waitFor(() => expect(seen.filter((k) => k === '/w/during').length).toBeGreaterThan(0), { timeout: 10_000, interval: 50 });
      expect(seen[0]).toBe('/w/before');
      ac.abort();
    } finally {
      cluster.members[0]!.resume();
      for (const s of stores) await s.close();
      await cluster.stop();
    }
  }, 40_000);
});
