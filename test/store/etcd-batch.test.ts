import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCode } from '../../src/lib/errors.js';
import { openEtcdStore, type EtcdStore } from '../../src/store/etcd.js';
import { type EtcdCluster, etcdGrpcCalls, startEtcd, uniquePrefix, useEtcd } from '../helpers/etcd.js';

const etcd = useEtcd();

/** etcd's own count of the KV requests it handled (the gateway calls its gRPC server in-process). */
async function handled(endpoint: string, method: 'Txn' | 'Range'): Promise<number> {
  return etcdGrpcCalls(endpoint, [method]);
}

async function open(endpoints: string[], maxTxnOps?: number): Promise<EtcdStore> {
  return openEtcdStore({ endpoints, prefix: uniquePrefix(), compactionIntervalMs: 0, ...(maxTxnOps !== undefined ? { maxTxnOps } : {}) });
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('etcd store: concurrent txns are merged', () => {
  it('64 txns on disjoint keys made at once go as one etcd txn, each succeeds and lands', async () => {
    const store = await open(etcd().endpoints);
    try {
      const before = await handled(etcd().endpoints[0]!, 'Txn');
      const results = await Promise.all(range(64).map((i) => store.txn([{ key: `k/${i}`, op: 'absent' }], [{ type: 'put', key: `k/${i}`, value: `v${i}` }])));
      const sent = (await handled(etcd().endpoints[0]!, 'Txn')) - before;
      expect(results.every((r) => r.succeeded)).toBe(true);
      // One batch: one revision for all of them.
      expect(new Set(results.map((r) => r.revision)).size).toBe(1);
      expect(sent).toBe(1);
      const back = await store.getMany(range(64).map((i) => `k/${i}`));
      expect(back.map((e) => e?.value)).toEqual(range(64).map((i) => `v${i}`));
      expect(back.every((e) => e?.modRevision === results[0]!.revision)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('each call gets its own outcome; those whose compares fail write nothing', async () => {
    const store = await open(etcd().endpoints);
    try {
      const revs: number[] = [];
      for (const i of range(32)) revs.push((await store.txn([], [{ type: 'put', key: `m/${i}`, value: 'old' }])).revision);
      // Even: the right revision; odd: a stale one. Every call also writes a key of its own.
      const results = await Promise.all(
        range(32).map((i) =>
          store.txn(
            [{ key: `m/${i}`, op: 'modRevision', revision: i % 2 === 0 ? revs[i]! : revs[i]! - 1 }],
            [{ type: 'put', key: `m/${i}`, value: 'new' }, { type: 'put', key: `side/${i}`, value: 'x' }],
          ),
        ),
      );
      expect(results.map((r) => r.succeeded)).toEqual(range(32).map((i) => i % 2 === 0));
      const values = await store.getMany(range(32).map((i) => `m/${i}`));
      expect(values.map((e) => e?.value)).toEqual(range(32).map((i) => (i % 2 === 0 ? 'new' : 'old')));
      const sides = await store.getMany(range(32).map((i) => `side/${i}`));
      expect(sides.map((e) => e !== undefined)).toEqual(range(32).map((i) => i % 2 === 0));
    } finally {
      await store.close();
    }
  });

  it('a batch is one flat txn while every compare holds; one stale compare costs one more request, nested', async () => {
    const store = await open(etcd().endpoints);
    try {
      const revs: number[] = [];
      for (const i of range(8)) revs.push((await store.txn([], [{ type: 'put', key: `f/${i}`, value: 'old' }])).revision);
      const round = (stale: number | null) =>
        Promise.all(range(8).map((i) => store.txn([{ key: `f/${i}`, op: 'modRevision', revision: i === stale ? 1 : revs[i]! }], [{ type: 'put', key: `f/${i}`, value: `new${stale}` }])));
      let before = await handled(etcd().endpoints[0]!, 'Txn');
      const good = await round(null);
      expect((await handled(etcd().endpoints[0]!, 'Txn')) - before).toBe(1);
      expect(good.every((r) => r.succeeded)).toBe(true);
      for (const i of range(8)) revs[i] = good[i]!.revision;
      before = await handled(etcd().endpoints[0]!, 'Txn');
      const mixed = await round(3);
      expect((await handled(etcd().endpoints[0]!, 'Txn')) - before).toBe(2);
      expect(mixed.map((r) => r.succeeded)).toEqual(range(8).map((i) => i !== 3));
      expect((await store.getMany(range(8).map((i) => `f/${i}`))).map((e) => e?.value)).toEqual(range(8).map((i) => (i === 3 ? 'newnull' : 'new3')));
    } finally {
      await store.close();
    }
  });

  it('two calls writing one key in the same tick are both applied, in order', async () => {
    const store = await open(etcd().endpoints);
    try {
      const [a, b] = await Promise.all([
        store.txn([], [{ type: 'put', key: 'same', value: 'first' }]),
        store.txn([], [{ type: 'put', key: 'same', value: 'second' }]),
      ]);
      expect(a.succeeded && b.succeeded).toBe(true);
      expect(b.revision).toBeGreaterThan(a.revision);
      expect((await store.get('same'))?.value).toBe('second');
      // Create-if-absent twice at once: the first wins, the second sees it.
      const [c, d] = await Promise.all([
        store.txn([{ key: 'once', op: 'absent' }], [{ type: 'put', key: 'once', value: 'c' }]),
        store.txn([{ key: 'once', op: 'absent' }], [{ type: 'put', key: 'once', value: 'd' }]),
      ]);
      expect([c.succeeded, d.succeeded]).toEqual([true, false]);
      expect((await store.get('once'))?.value).toBe('c');
    } finally {
      await store.close();
    }
  });

  it('a range delete goes alone, after the calls before it and before those after it', async () => {
    const store = await open(etcd().endpoints);
    try {
      await store.txn([], [{ type: 'put', key: 'r/x', value: '1' }]);
      const [put1, del, put2] = await Promise.all([
        store.txn([], [{ type: 'put', key: 'r/w', value: '1' }]),
        store.txn([], [{ type: 'deleteRange', start: 'r/', end: 'r/\uffff' }]),
        store.txn([], [{ type: 'put', key: 'r/y', value: '1' }]),
      ]);
      expect(put1.revision).toBeLessThan(del.revision);
      expect(del.revision).toBeLessThan(put2.revision);
      expect((await store.range('r/')).entries.map((e) => e.key)).toEqual(['r/y']);
    } finally {
      await store.close();
    }
  });

  it('a call naming an expired lease fails alone; the others of its batch succeed', async () => {
    const store = await open(etcd().endpoints);
    try {
      const lease = await store.grantLease(5_000);
      await store.revokeLease(lease);
      const calls = range(8).map((i) => store.txn([], [{ type: 'put', key: `l/${i}`, value: 'v', lease: i === 3 ? lease : 0 }]));
      const settled = await Promise.allSettled(calls);
      settled.forEach((s, i) => {
        if (i === 3) expect(s.status === 'rejected' && hasCode(s.reason, 'store.lease_not_found')).toBe(true);
        else expect(s.status === 'fulfilled' && s.value.succeeded).toBe(true);
      });
      const back = await store.getMany(range(8).map((i) => `l/${i}`));
      expect(back.map((e) => e !== undefined)).toEqual(range(8).map((i) => i !== 3));
    } finally {
      await store.close();
    }
  });

  it('close() fails the calls still queued with store.closed instead of leaving them hanging', async () => {
    const store = await open(etcd().endpoints);
    const calls = range(10).map((i) => store.txn([], [{ type: 'put', key: `c/${i}`, value: 'v' }]));
    const reads = range(5).map((i) => store.get(`c/${i}`));
    const outcomes = Promise.allSettled([...calls, ...reads]);
    await store.close();
    const settled = await outcomes;
    expect(settled.every((s) => s.status === 'rejected' && hasCode(s.reason, 'store.closed'))).toBe(true);
  });

  it('concurrent reads share etcd requests and each gets its own entries', async () => {
    const store = await open(etcd().endpoints);
    try {
      await store.txn([], range(20).map((i) => ({ type: 'put' as const, key: `g/${i}`, value: `v${i}` })));
      const asks = range(30).map((i) => [`g/${i % 20}`, `g/missing-${i}`, `g/${(i * 7) % 20}`]);
      const before = (await handled(etcd().endpoints[0]!, 'Txn')) + (await handled(etcd().endpoints[0]!, 'Range'));
      const [many, one] = await Promise.all([Promise.all(asks.map((keys) => store.getMany(keys))), Promise.all(range(20).map((i) => store.get(`g/${i}`)))]);
      const sent = (await handled(etcd().endpoints[0]!, 'Txn')) + (await handled(etcd().endpoints[0]!, 'Range')) - before;
      expect(many.map((es) => es.map((e) => e?.value))).toEqual(asks.map((keys) => keys.map((k) => (k.includes('missing') ? undefined : `v${k.slice(2)}`))));
      expect(one.map((e) => e?.key)).toEqual(range(20).map((i) => `g/${i}`));
      // 50 calls, 110 keys: within etcd's 128 ops a txn, at most a few requests (one out at a time, the rest queued behind it).
      expect(sent).toBeLessThanOrEqual(3);
    } finally {
      await store.close();
    }
  });
});

describe('etcd store: batches stay within --max-txn-ops', () => {
  let small: EtcdCluster;
  beforeAll(async () => {
    small = await startEtcd(1, { maxTxnOps: 16 });
  }, 30_000);
  afterAll(async () => {
    await small?.stop();
  });

  it('a queue heavier than one txn may carry is split into several', async () => {
    const store = await open(small.endpoints, 16);
    try {
      const before = await handled(small.endpoints[0]!, 'Txn');
      // Each call weighs 2 of 16 (its nesting and its op): 8 a batch.
      const results = await Promise.all(range(40).map((i) => store.txn([{ key: `s/${i}`, op: 'absent' }], [{ type: 'put', key: `s/${i}`, value: 'v' }])));
      const sent = (await handled(small.endpoints[0]!, 'Txn')) - before;
      expect(results.every((r) => r.succeeded)).toBe(true);
      expect(sent).toBeGreaterThanOrEqual(5);
      expect(sent).toBeLessThan(40);
      expect(await store.count('s/')).toBe(40);
    } finally {
      await store.close();
    }
  });

  it('a batch that times out fails every call in it, as a lone call fails, and applies all or nothing', async () => {
    const store = await openEtcdStore({ endpoints: small.endpoints, prefix: uniquePrefix(), compactionIntervalMs: 0, maxTxnOps: 16, timeoutMs: 500 });
    try {
      small.members[0]!.pause();
      const settled = await Promise.allSettled(range(6).map((i) => store.txn([], [{ type: 'put', key: `t/${i}`, value: 'v' }])));
      small.members[0]!.resume();
      expect(settled.every((s) => s.status === 'rejected' && hasCode(s.reason, 'store.unavailable'))).toBe(true);
      // Maybe applied (etcd got it), never in part: the first batch's calls are all there or all absent.
      const back = await store.getMany(range(6).map((i) => `t/${i}`));
      const landed = back.filter((e) => e !== undefined).length;
      expect([0, 6]).toContain(landed);
    } finally {
      small.members[0]!.resume();
      await store.close();
    }
  });
});
