import { afterEach, describe, expect, it } from 'vitest';
import { TetherError } from '../../src/lib/errors.js';
import { silentLogger } from '../../src/observability/logger.js';
import { QueueService } from '../../src/queues/service.js';
import { RegistryService } from '../../src/registry/service.js';
import { RouteDeliverer } from '../../src/routes/deliverer.js';
import { ROUTES_PREFIX } from '../../src/routes/keys.js';
import { RouteStore } from '../../src/routes/route-store.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store, WatchEvent } from '../../src/store/store.js';
import { waitForMessages } from './support.js';

/**
 * Review R16: when the store loses track of changes (an empty watch batch:
 * etcd compacted past the stream), the deliverer re-reads its routes. A
 * re-read that fails once (the store still flapping) must be tried again:
 * the old watch is over, so giving up would leave routes set later unrun.
 * A real SQLite store; the store's own watch feed, with the "lost track"
 * batch and one failed range injected.
 */
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('event route deliverer: lost watch', () => {
  it('a re-read that fails once is retried: a route set afterwards is delivered', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const listeners: Array<(evs: WatchEvent[]) => void> = [];
    let failRanges = 0;
    // The store, with the routes watch's listener kept (to send the "lost track" batch) and ranges that can fail.
    const flaky = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'watch') {
          return (prefix: string, from: number, listener: (evs: WatchEvent[]) => void, signal: AbortSignal) => {
            if (prefix === ROUTES_PREFIX) listeners.push(listener);
            return target.watch(prefix, from, listener, signal);
          };
        }
        if (prop === 'range') {
          return (...args: Parameters<Store['range']>) => {
            if (args[0] === ROUTES_PREFIX && failRanges > 0) {
              failRanges -= 1;
              return Promise.reject(new TetherError('store.unavailable', 'etcd unreachable'));
            }
            return target.range(...args);
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as Store;
    const registry = await RegistryService.open(store, { logger: silentLogger() });
    const queues = await QueueService.open(store, { logger: silentLogger(), sweepIntervalMs: 0 });
    const deliverer = await RouteDeliverer.start(flaky, registry, queues, { waitSeconds: 1 });
    cleanups.push(async () => {
      await deliverer.close();
      await queues.close();
      await registry.close();
      await store.close();
    });
    expect(listeners).toHaveLength(1);
    failRanges = 1;
    (listeners[0] as (evs: WatchEvent[]) => void)([]);
    // Re-read and watching again (after the failed try and a backoff).
    await expect.poll(() => listeners.length, { timeout: 10_000 }).toBe(2);
    expect(failRanges).toBe(0);
    await new RouteStore(store, queues).set('t1', 'later', { queue: 'q' });
    await registry.setConfig('t1', '/app/key', { value: 'v' });
    const got = await waitForMessages(queues, 't1', 'q', 1, 15_000);
    expect(got.map((e) => e.type)).toEqual(['configuration_value.update']);
  }, 30_000);
});
