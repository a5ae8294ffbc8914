import { openEtcdStore } from '../../src/store/etcd.js';
import type { Store } from '../../src/store/store.js';
import { uniquePrefix, useEtcd } from '../helpers/etcd.js';
import type { StoreFactory } from '../helpers/registries.js';
import { describeEventRoutes } from './suite.js';

// Event routes over the etcd store (a real etcd this file starts); the two-server case
// runs a second registry+queues+deliverer on its own etcd connection over the same prefix.
const etcd = useEtcd();
const prefixes = new WeakMap<Store, string>();

const open = (prefix: string) => openEtcdStore({ endpoints: etcd().endpoints, prefix, compactionIntervalMs: 0 });

const stores: StoreFactory = async () => {
  const prefix = uniquePrefix();
  const store = await open(prefix);
  prefixes.set(store, prefix);
  return {
    store,
    async close() {
      await store.txn([], [{ type: 'deleteRange', start: '', end: '\uffff' }]).catch(() => undefined);
      await store.close();
    },
  };
};

describeEventRoutes('etcd', stores, async (first) => {
  const store = await open(prefixes.get(first) as string);
  return { store, close: () => store.close() };
});
