import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { QueueService } from '../../src/queues/service.js';
import { RegistryService } from '../../src/registry/service.js';
import { RouteDeliverer } from '../../src/routes/deliverer.js';
import { RouteStore } from '../../src/routes/route-store.js';
import { openEtcdStore } from '../../src/store/etcd.js';
import { uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { feedAfter, waitForMessages } from './support.js';

/**
 * Review 16 M1: a burst bigger than one etcd txn (by operations, or by bytes)
 * must still be delivered, every event once, in feed order. Each route is set
 * and the burst written BEFORE the deliverer starts, so its first feed page
 * holds the whole burst: a deliverer that put a page into one txn would be
 * refused by etcd on every retry and deliver nothing.
 */
const small = useEtcd(1, { maxTxnOps: 20 });
const normal = useEtcd(1);
const T = 'tenant-m1';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A registry and a deliverer on a store that knows the cluster's txn limit; queues on a second connection (the queue service needs 20+ messages per post). */
async function open(endpoints: string[], maxTxnOps: number | undefined) {
  const prefix = uniquePrefix();
  const store = await openEtcdStore({ endpoints, prefix, compactionIntervalMs: 0, ...(maxTxnOps !== undefined ? { maxTxnOps } : {}) });
  const qstore = await openEtcdStore({ endpoints, prefix, compactionIntervalMs: 0 });
  const registry = await RegistryService.open(store, { logger: silentLogger() });
  const queues = await QueueService.open(qstore, { logger: silentLogger(), sweepIntervalMs: 0 });
  const routes = new RouteStore(qstore, queues);
  let deliverer: RouteDeliverer | undefined;
  cleanups.push(async () => {
    await deliverer?.close();
    await queues.close();
    await registry.close();
    await qstore.close();
    await store.close();
  });
  return {
    registry,
    queues,
    routes,
    async startDeliverer() {
      deliverer = await RouteDeliverer.start(store, registry, queues, { waitSeconds: 5 });
      return deliverer;
    },
  };
}

describe('event routes: bursts bigger than one txn (review 16 M1)', () => {
  it('etcd --max-txn-ops 20 and a burst of 50 matching events: every event arrives once, in order', async () => {
    const node = await open(small().endpoints, 20);
    await node.routes.set(T, 'burst', { queue: 'jobs', types: ['configuration_value.update'] });
    const start = (await node.routes.get(T, 'burst')).last_event;
    for (let i = 0; i < 50; i++) await node.registry.setConfig(T, `/burst/key-${String(i).padStart(2, "0")}`, { value: String(i) });
    const deliverer = await node.startDeliverer();
    const got = await waitForMessages(node.queues, T, 'jobs', 50, 60_000);
    const feed = await feedAfter(node.registry, T, start);
    expect(feed).toHaveLength(50);
    expect(got.map((e) => e.id)).toEqual(feed.map((e) => e.id));
    await expect.poll(async () => (await node.routes.get(T, 'burst')).delivered, { timeout: 10_000 }).toBe(50);
    expect(await deliverer.deliveredCount(T, 'burst')).toBe(50);
  }, 90_000);

  it('90 service events of ~20 KB each (1.8 MB, over etcd\'s 1.5 MiB request cap): every event arrives once, in order', async () => {
    const node = await open(normal().endpoints, undefined);
    await node.routes.set(T, 'big', { queue: 'big', types: ['service.join'] });
    const start = (await node.routes.get(T, 'big')).last_event;
    // 20 entries of 255 three-byte characters per value: ~20 KB with the keys, per event.
    const metadata = (i: number) => Object.fromEntries(Array.from({ length: 20 }, (_, k) => [`${'k'.repeat(250)}${String(k).padStart(3, '0')}`, `${'€'.repeat(250)}${String(i).padStart(5, '0')}`]));
    for (let i = 0; i < 90; i++) await node.registry.createService(T, { id: `svc-${i}`, tags: ['t'], metadata: metadata(i), heartbeat_timeout: 120 });
    const feed = await feedAfter(node.registry, T, start);
    expect(feed).toHaveLength(90);
    expect(feed.reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e)), 0)).toBeGreaterThan(1.6 * 1024 * 1024);
    await node.startDeliverer();
    const got = await waitForMessages(node.queues, T, 'big', 90, 60_000);
    expect(got.map((e) => e.id)).toEqual(feed.map((e) => e.id));
    await expect.poll(async () => (await node.routes.get(T, 'big')).delivered, { timeout: 10_000 }).toBe(90);
  }, 90_000);
});
