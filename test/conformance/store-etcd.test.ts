import { describe, expect, it } from 'vitest';
import { flattenOps, openEtcdStore, type EtcdStore } from '../../src/store/etcd.js';
import type { Op, Store } from '../../src/store/store.js';
import { uniquePrefix, useEtcd } from '../helpers/etcd.js';
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
  const { request } = await import('undici');
  const res = await request(`${etcd().endpoints[0]}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: String(rev), physical: true }) });
  expect(res.statusCode).toBe(200);
  await res.body.dump();
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

  it('fails fast with store.unavailable when no endpoint answers', async () => {
    const started = Date.now();
    const err = await openEtcdStore({ endpoints: ['http://127.0.0.1:9'], timeoutMs: 500 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'store.unavailable' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
