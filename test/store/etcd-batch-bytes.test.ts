import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEtcdStore, type EtcdStore } from '../../src/store/etcd.js';
import { type EtcdCluster, etcdGrpcCalls, startEtcd, uniquePrefix, useEtcd } from '../helpers/etcd.js';

/**
 * Review R9 F1: callers keep each txn under etcd's --max-request-bytes (1.5 MiB by
 * default; routes and queue posts cap theirs at 1,000,000 bytes), so the group commit
 * must not merge several into one request etcd refuses as too large (or, past ~2 MiB,
 * never answers). Real etcd.
 */

const etcd = useEtcd();

/** etcd's own count of the Txn requests it handled, refused ones included. */
async function txnsHandled(endpoint: string): Promise<number> {
  return etcdGrpcCalls(endpoint, ['Txn']);
}

function open(endpoints: string[]): Promise<EtcdStore> {
  return openEtcdStore({ endpoints, prefix: uniquePrefix(), compactionIntervalMs: 0 });
}

/** Puts one `bytes`-long value per key, all in the same tick; the reasons of those that failed. */
async function putAtOnce(store: EtcdStore, keys: string[], bytes: number): Promise<string[]> {
  const value = 'x'.repeat(bytes);
  const results = await Promise.allSettled(keys.map((key) => store.txn([], [{ type: 'put', key, value }])));
  return results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
}

describe('etcd group commit: merged txns stay within the request size etcd takes', () => {
  it('three concurrent 600 KB txns that each fit alone all succeed and land', async () => {
    const store = await open(etcd().endpoints);
    try {
      const keys = ['big/0', 'big/1', 'big/2'];
      expect(await putAtOnce(store, keys, 600_000)).toEqual([]);
      expect((await store.getMany(keys)).map((e) => e?.value.length)).toEqual([600_000, 600_000, 600_000]);
    } finally {
      await store.close();
    }
  }, 60_000);

  it('five concurrent 600 KB txns (3 MB together, past the gRPC message cap) all succeed', async () => {
    const store = await open(etcd().endpoints);
    try {
      expect(await putAtOnce(store, [0, 1, 2, 3, 4].map((i) => `big/${i}`), 600_000)).toEqual([]);
      expect(await store.count('big/')).toBe(5);
    } finally {
      await store.close();
    }
  }, 60_000);

  it('small txns still share one request', async () => {
    const store = await open(etcd().endpoints);
    try {
      const before = await txnsHandled(etcd().endpoints[0]!);
      expect(await putAtOnce(store, [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `small/${i}`), 10_000)).toEqual([]);
      expect((await txnsHandled(etcd().endpoints[0]!)) - before).toBe(1);
    } finally {
      await store.close();
    }
  }, 60_000);
});

describe('etcd group commit: a merge etcd still refuses as too large', () => {
  let small: EtcdCluster;
  beforeAll(async () => {
    small = await startEtcd(1, { maxRequestBytes: 300_000 });
  }, 30_000);
  afterAll(async () => {
    await small?.stop();
  });

  it('is sent again one call per request, and each call that fits succeeds', async () => {
    const store = await open(small.endpoints);
    try {
      const before = await txnsHandled(small.endpoints[0]!);
      // 2 x 200 KB merge under the batch cap, over this etcd's 300,000 bytes.
      expect(await putAtOnce(store, ['m/0', 'm/1'], 200_000)).toEqual([]);
      expect((await txnsHandled(small.endpoints[0]!)) - before).toBe(3);
      expect(await store.count('m/')).toBe(2);
      // One call over the limit fails alone, with etcd's reason; the one beside it lands.
      const [big, beside] = await Promise.allSettled([
        store.txn([], [{ type: 'put', key: 'm/big', value: 'x'.repeat(400_000) }]),
        store.txn([], [{ type: 'put', key: 'm/2', value: 'v' }]),
      ]);
      expect(big).toMatchObject({ status: 'rejected', reason: { code: 'store.failed', message: expect.stringContaining('request is too large') } });
      expect(beside).toMatchObject({ status: 'fulfilled', value: { succeeded: true } });
      expect(await store.get('m/big')).toBeUndefined();
    } finally {
      await store.close();
    }
  }, 60_000);
});
