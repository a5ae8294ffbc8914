import { Registry as PromRegistry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { QueueService } from '../../src/queues/service.js';
import { RegistryService } from '../../src/registry/service.js';
import { RouteDeliverer } from '../../src/routes/deliverer.js';
import { RouteStore } from '../../src/routes/route-store.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { waitForMessages } from './support.js';

/** Review 16 L2: a deleted route's metric series leave /metrics with it. */
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('event route metrics', () => {
  it('delivered_total has a series per route while it exists, and none after it is deleted', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const registry = await RegistryService.open(store, { logger: silentLogger() });
    const queues = await QueueService.open(store, { logger: silentLogger(), sweepIntervalMs: 0 });
    const metrics = new PromRegistry();
    const deliverer = await RouteDeliverer.start(store, registry, queues, { waitSeconds: 1, metricsRegistry: metrics });
    cleanups.push(async () => {
      await deliverer.close();
      await queues.close();
      await registry.close();
      await store.close();
    });
    const routes = new RouteStore(store, queues);
    await routes.set('t1', 'gone', { queue: 'q' });
    await registry.setConfig('t1', '/app/key', { value: 'v' });
    await waitForMessages(queues, 't1', 'q', 1);
    await expect.poll(async () => (await metrics.metrics()).includes('tether_event_route_delivered_total{route="t1/gone"} 1'), { timeout: 10_000 }).toBe(true);
    await routes.delete('t1', 'gone');
    await expect.poll(async () => (await metrics.metrics()).includes('route="t1/gone"'), { timeout: 10_000 }).toBe(false);
  }, 30_000);
});
