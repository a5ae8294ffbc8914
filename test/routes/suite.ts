import { afterEach, describe, expect, it } from 'vitest';
import { isFault } from '../../src/registry/faults.js';
import { RouteDeliverer } from '../../src/routes/deliverer.js';
import { RouteStore } from '../../src/routes/route-store.js';
import type { Store } from '../../src/store/store.js';
import type { StoreFactory } from '../helpers/registries.js';
import { allMessages, feedAfter, openNode, summary, waitForMessages, type Node } from './support.js';

const svc = (id: string, tags: string[], heartbeat_timeout = 60) => ({ id, tags, metadata: {}, heartbeat_timeout });

/**
 * Event routes (issue 16 item 1) over one engine: `stores` opens a fresh
 * store; `second` (etcd) opens another connection to the same data, for a
 * second server.
 */
export function describeEventRoutes(name: string, stores: StoreFactory, second?: (first: Store) => Promise<{ store: Store; close(): Promise<void> }>): void {
  describe(`event routes (${name})`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });
    async function open(): Promise<{ store: Store; node: Node }> {
      const { store, close } = await stores();
      cleanups.push(close);
      const node = await openNode(store);
      cleanups.push(() => node.close());
      return { store, node };
    }

    it('delivers each matching event once, in feed order, with the feed body; earlier and non-matching events are absent', async () => {
      const { node } = await open();
      const t = 'tenant-a';
      await node.registry.createService(t, svc('before', ['web']));
      expect(await node.routes.set(t, 'r1', { queue: 'jobs', types: ['service.join', 'service.remove', 'configuration_value.update'], service_tags: ['web'], key_prefixes: ['/prod/'] })).toBe(true);
      const start = (await node.routes.get(t, 'r1')).last_event;
      expect(start).not.toBeNull();
      await node.registry.createService(t, svc('web-1', ['web', 'x']));
      await node.registry.createService(t, svc('db-1', ['db']));
      await node.registry.setConfig(t, '/prod/aaa', { value: '1' });
      await node.registry.setConfig(t, '/dev/aaa', { value: '1' });
      await node.registry.deleteConfig(t, '/prod/aaa');
      await node.registry.deleteService(t, 'web-1');
      await node.registry.deleteService(t, 'db-1');
      // A last matching event: once it is in, everything before it was decided.
      await node.registry.setConfig(t, '/prod/end', { value: 'x' });
      const got = await waitForMessages(node.queues, t, 'jobs', 4);
      expect(got.map(summary)).toEqual([
        'service.join web-1',
        'configuration_value.update /prod/aaa',
        'service.remove web-1',
        'configuration_value.update /prod/end',
      ]);
      const feed = new Map((await feedAfter(node.registry, t, start)).map((e) => [e.id, e]));
      for (const ev of got) expect(ev).toEqual(feed.get(ev.id));
      const status = await node.routes.get(t, 'r1');
      expect(status).toMatchObject({ id: 'r1', queue: 'jobs', delivered: 4, ttl: 86_400 });
      expect(await node.deliverer.deliveredCount(t, 'r1')).toBe(4);
      // Other tenants' events never reach this tenant's queue.
      await node.registry.createService('tenant-b', svc('web-b', ['web']));
      await node.registry.setConfig(t, '/prod/end2', { value: 'y' });
      expect((await waitForMessages(node.queues, t, 'jobs', 5)).map(summary).slice(4)).toEqual(['configuration_value.update /prod/end2']);
    });

    it('validates, lists, updates the filter in place and stops on delete', async () => {
      const { store, node } = await open();
      const t = 'tenant-c';
      // The queues' max message ttl (--queue-limits) caps a route's ttl.
      await expect(new RouteStore(store, node.queues, 600).set(t, 'capped', { queue: 'q', ttl: 601 })).rejects.toThrow("Validation error for key 'ttl'");
      const bad = [
        [{ types: [] }, "Validation error for key 'queue'"],
        [{ queue: 'bad name' }, "Validation error for key 'queue'"],
        [{ queue: 'q', types: ['nope'] }, "Validation error for key 'types'"],
        [{ queue: 'q', ttl: 5 }, "Validation error for key 'ttl'"],
        [{ queue: 'q', extra: 1 }, "Validation error for key 'extra'"],
      ] as const;
      for (const [body, message] of bad) {
        const err = await node.routes.set(t, 'r', body).catch((e: unknown) => e);
        expect(isFault(err, 'badRequest') && err.message).toBe(message);
      }
      await expect(node.routes.set(t, 'bad/id', { queue: 'q' })).rejects.toThrow("Validation error for key 'id'");
      await expect(node.routes.get(t, 'nope')).rejects.toMatchObject({ type: 'notFoundError', status: 404 });
      await expect(node.routes.delete(t, 'nope')).rejects.toMatchObject({ type: 'notFoundError' });
      expect(await node.routes.set(t, 'r', { queue: 'q', types: ['service.join'] })).toBe(true);
      expect(await node.queues.queueExists(t, 'q')).toBe(true);
      await node.registry.createService(t, svc('svc-1', []));
      await waitForMessages(node.queues, t, 'q', 1);
      // Same id again: the filter changes, the cursor stays (nothing redelivered).
      expect(await node.routes.set(t, 'r', { queue: 'q', types: ['configuration_value.update'], ttl: 120 })).toBe(false);
      await node.registry.createService(t, svc('svc-2', []));
      await node.registry.setConfig(t, 'key-k', { value: 'v' });
      const got = await waitForMessages(node.queues, t, 'q', 2);
      expect(got.map(summary)).toEqual(['service.join svc-1', 'configuration_value.update key-k']);
      expect((await allMessages(node.queues, t, 'q'))[1]?.ttl).toBe(120);
      expect((await node.routes.list(t)).map((r) => [r.id, r.delivered])).toEqual([['r', 2]]);
      await node.routes.delete(t, 'r');
      expect(await node.routes.list(t)).toEqual([]);
      await node.routes.set(t, 'sentinel', { queue: 'other' });
      await node.registry.setConfig(t, 'key-k2', { value: 'v' });
      await waitForMessages(node.queues, t, 'other', 1);
      expect((await allMessages(node.queues, t, 'q')).length).toBe(2);
    });

    it('delivers a service.timeout, and recreates a deleted queue', async () => {
      const { node } = await open();
      const t = 'tenant-d';
      await node.routes.set(t, 'all', { queue: 'ops', types: ['service.timeout'] });
      await node.queues.deleteQueue(t, 'ops');
      await node.registry.createService(t, svc('short', ['web'], 3));
      const got = await waitForMessages(node.queues, t, 'ops', 1, 30_000);
      expect(got.map(summary)).toEqual(['service.timeout short']);
    });

    it('events the route does not want move the stored cursor rarely, not once each', async () => {
      const { store, node } = await open();
      const t = 'tenant-g';
      await node.routes.set(t, 'r', { queue: 'q', types: ['service.join'] });
      const writes: string[] = [];
      const stop = new AbortController();
      await store.watch('r/c/', (await store.revision()) + 1, (evs) => writes.push(...evs.map((e) => e.key)), stop.signal);
      try {
        for (let i = 0; i < 40; i++) await node.registry.setConfig(t, `key-${i}`, { value: 'v' });
        await node.registry.createService(t, svc('joiner', []));
        const got = await waitForMessages(node.queues, t, 'q', 1);
        expect(got.map(summary)).toEqual(['service.join joiner']);
        await expect.poll(async () => (await node.routes.get(t, 'r')).last_event).toBe(got[0]?.id);
        // One write on the first skipped page, at most one more per 5 s of skipping, one with the delivery.
        expect(writes.length).toBeGreaterThanOrEqual(1);
        expect(writes.length).toBeLessThanOrEqual(4);
      } finally {
        stop.abort();
      }
    });

    it('two deliverers over one store write each event once', async () => {
      const { store, node } = await open();
      let other: Node;
      if (second === undefined) {
        const d = await RouteDeliverer.start(store, node.registry, node.queues, { waitSeconds: 5 });
        cleanups.push(() => d.close());
        other = { ...node, deliverer: d };
      } else {
        const s = await second(store);
        cleanups.push(s.close);
        other = await openNode(s.store);
        cleanups.push(() => other.close());
      }
      const t = 'tenant-e';
      await other.routes.set(t, 'r', { queue: 'q' });
      const n = 60;
      await Promise.all([
        (async () => {
          for (let i = 0; i < n / 2; i++) await node.registry.setConfig(t, `key-a${i}`, { value: String(i) });
        })(),
        (async () => {
          for (let i = 0; i < n / 2; i++) await other.registry.setConfig(t, `key-b${i}`, { value: String(i) });
        })(),
      ]);
      const got = await waitForMessages(node.queues, t, 'q', n);
      const feed = await feedAfter(node.registry, t, null);
      expect(got.map((e) => e.id)).toEqual(feed.map((e) => e.id));
      expect((await node.deliverer.deliveredCount(t, 'r')) + (await other.deliverer.deliveredCount(t, 'r'))).toBe(n);
    });

    it('a restarted server resumes from the stored cursor: no gap, no duplicate', async () => {
      const { store, node } = await open();
      const t = 'tenant-f';
      await node.routes.set(t, 'r', { queue: 'q' });
      for (let i = 0; i < 5; i++) await node.registry.setConfig(t, `key-${i}`, { value: 'a' });
      await waitForMessages(node.queues, t, 'q', 5);
      await node.deliverer.close();
      for (let i = 5; i < 10; i++) await node.registry.setConfig(t, `key-${i}`, { value: 'b' });
      const again = await RouteDeliverer.start(store, node.registry, node.queues, { waitSeconds: 5 });
      cleanups.push(() => again.close());
      for (let i = 10; i < 12; i++) await node.registry.setConfig(t, `key-${i}`, { value: 'c' });
      const got = await waitForMessages(node.queues, t, 'q', 12);
      expect(got.map(summary)).toEqual(Array.from({ length: 12 }, (_, i) => `configuration_value.update key-${i}`));
      expect(await again.deliveredCount(t, 'r')).toBe(7);
    });
  });
}
