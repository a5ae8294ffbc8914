import { describe, expect, it } from 'vitest';
import { openEtcdStore, ETCD_DEFAULT_MAX_TXN_OPS } from '../../src/store/etcd.js';
import { uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { queuesDirect, type QueuesImplementation } from '../helpers/queues.js';
import type { StoreFactory } from '../helpers/registries.js';
import { queuesOverHttp } from './queues-http-impl.js';
import { clientId, docs } from './queues-support.js';

/**
 * Review 15 M3: on etcd a post is one txn, so a post with more messages than
 * the cluster's --max-txn-ops allows could never commit (a 503 on every
 * retry). The count limit of spec A1 is derived from the store's txn limit:
 * the counter and up to 4 handoff claim records share the txn.
 */
const etcd = useEtcd(); // started with --max-txn-ops 4096

function stores(maxTxnOps: number | undefined): StoreFactory {
  return async () => {
    const store = await openEtcdStore({
      endpoints: etcd().endpoints,
      prefix: uniquePrefix(),
      compactionIntervalMs: 0,
      ...(maxTxnOps !== undefined ? { maxTxnOps } : {}),
    });
    return {
      store,
      async close() {
        await store.txn([], [{ type: 'deleteRange', start: '', end: '\uffff' }]).catch(() => undefined);
        await store.close();
      },
    };
  };
}

const cases: Array<{ impl: QueuesImplementation; txnOps: number }> = [
  { impl: queuesDirect('etcd', stores(undefined)), txnOps: ETCD_DEFAULT_MAX_TXN_OPS },
  { impl: queuesOverHttp('etcd+http', stores(undefined)), txnOps: ETCD_DEFAULT_MAX_TXN_OPS },
  { impl: queuesDirect('etcd --max-txn-ops 4096', stores(4096)), txnOps: 4096 },
];

for (const { impl, txnOps } of cases) {
  const limit = txnOps - 5;
  describe(`Queues on ${impl.name}: the post count limit from the txn limit (${txnOps} ops)`, () => {
    it(`a post of ${limit} messages is accepted; ${limit + 1} is 400 Invalid API call and nothing is stored`, async () => {
      const h = await impl.open();
      try {
        await h.queues.createQueue('p', 'big');
        const ids = await h.queues.postMessages('p', 'big', clientId(), docs(limit));
        expect(ids).toHaveLength(limit);
        await expect(h.queues.postMessages('p', 'big', clientId(), docs(limit + 1))).rejects.toMatchObject({
          code: 'queues.invalidApiCall',
          status: 400,
          title: 'Invalid API call',
        });
        expect((await h.queues.getStats('p', 'big')).total).toBe(limit);
        expect(h.service.limits.maxMessagesPerPost).toBe(limit);
      } finally {
        await h.close();
      }
    });
  });
}

describe('Queues on etcd: a configured count limit under the txn limit stays', () => {
  it('maxMessagesPerPost 50 with room for 123 -> 51 refused', async () => {
    const h = await queuesDirect('etcd', stores(undefined)).open({ limits: { maxMessagesPerPost: 50 } });
    try {
      await h.queues.createQueue('p', 'q');
      await expect(h.queues.postMessages('p', 'q', clientId(), docs(51))).rejects.toMatchObject({ code: 'queues.invalidApiCall' });
      expect(await h.queues.postMessages('p', 'q', clientId(), docs(50))).toHaveLength(50);
    } finally {
      await h.close();
    }
  });

  it('a txn limit leaving room for fewer than 20 messages per post is a configuration error', async () => {
    await expect(queuesDirect('etcd', stores(24)).open()).rejects.toMatchObject({ code: 'queues.config' });
  });
});

describe('tether registry --etcd-max-txn-ops', () => {
  it('passes the cluster txn limit to the etcd store; refuses a non-integer', async () => {
    const { parseStoreFlags } = await import('../../src/cli/commands/registry.js');
    const base = { store: 'etcd', 'etcd-endpoints': 'http://127.0.0.1:2379' };
    expect(parseStoreFlags({ ...base, 'etcd-max-txn-ops': '4096' })).toMatchObject({ engine: 'etcd', maxTxnOps: 4096 });
    expect(() => parseStoreFlags({ ...base, 'etcd-max-txn-ops': '0' })).toThrow(/positive integer/);
    expect(() => parseStoreFlags({ data: '/tmp/x', 'etcd-max-txn-ops': '4096' })).toThrow(/need --store etcd/);
  });
});
