import { describe, expect, it } from 'vitest';
import { boundaryUuid } from '../../src/registry/time-uuid.js';
import type { RegistryEvent, ServicePayload } from '../../src/registry/types.js';
import { MarkerPoller } from '../helpers/feed-poller.js';
import { expectEventShape, expectListShape } from './fixtures-shapes.js';
import { expectFault, newTenant, serviceBody, type HarnessRef } from './registry-support.js';

const at = (events: RegistryEvent[], i: number): RegistryEvent => {
  const e = events[i];
  if (!e) throw new Error(`no event at index ${i} (have ${events.length})`);
  return e;
};
const payloadId = (e: RegistryEvent): string => (e.payload as ServicePayload).id;

/** Spec 14, test-api-client-events.js: E1-E19. */
export function describeEventLines(h: HarnessRef): void {
  describe('events: test_events_listing', () => {
    const t = newTenant();
    let events: RegistryEvent[] = [];

    it('E1 a new account lists 0 events', async () => {
      const page = await h().registry.listEvents(t);
      expectListShape(page, expectEventShape);
      expect(page.values).toEqual([]);
    });

    it('E2 marker=0 gives 400 Invalid UUID', async () => {
      await expectFault(h().registry.listEvents(t, { marker: '0' }), { type: 'badRequest', status: 400, details: /Invalid UUID/ });
    });

    it('E3 type=invalid, and a repeated type, give 400 Invalid type', async () => {
      const { registry } = h();
      await expectFault(registry.listEvents(t, { type: 'invalid' }), { type: 'badRequest', status: 400, message: /Invalid type: invalid/ });
      await expectFault(registry.listEvents(t, { type: ['invalid1', 'invalid2'] }), {
        type: 'badRequest',
        status: 400,
        message: /Invalid type: invalid/,
      });
    });

    it('E4 after 3 sets: type=remove lists 0, type=update lists 3, and 1 with limit=1', async () => {
      const { registry, clock } = h();
      for (const [i, id] of ['ev-value-1', 'ev-value-2', 'ev-value-3'].entries()) {
        await registry.setConfig(t, id, { value: `value ${i}` });
        clock.advance(1);
      }
      expect((await registry.listEvents(t, { type: 'configuration_value.remove' })).values).toEqual([]);
      const updates = await registry.listEvents(t, { type: 'configuration_value.update' });
      expect(updates.values).toHaveLength(3);
      events = updates.values;
      const one = await registry.listEvents(t, { type: 'configuration_value.update', limit: 1 });
      expect(one.values).toHaveLength(1);
      expect(at(one.values, 0).id).toBe(at(events, 0).id);
    });

    it('E5 marker = 3rd event id with type and limit=50 lists 1', async () => {
      const page = await h().registry.listEvents(t, { marker: at(events, 2).id, type: 'configuration_value.update', limit: 50 });
      expect(page.values.map((e) => e.id)).toEqual([at(events, 2).id]);
    });

    it('E6 unfiltered lists 3; marker = last id lists 1; marker = 2nd id lists 2 (inclusive)', async () => {
      const { registry } = h();
      const all = await registry.listEvents(t);
      expect(all.values.map((e) => e.id)).toEqual(events.map((e) => e.id));
      expect((await registry.listEvents(t, { marker: at(events, 2).id })).values.map((e) => e.id)).toEqual([at(events, 2).id]);
      expect((await registry.listEvents(t, { marker: at(events, 1).id })).values.map((e) => e.id)).toEqual([
        at(events, 1).id,
        at(events, 2).id,
      ]);
    });

    it('E7 a marker for now + 1 s gives 400: from parameter must be smaller than the current time', async () => {
      const { registry, clock } = h();
      const text = 'from parameter must be smaller than the current time';
      await expectFault(registry.listEvents(t, { marker: boundaryUuid(clock.now() + 1000, 'max') }), {
        type: 'badRequest',
        status: 400,
        message: text,
        details: text,
      });
    });

    it('E8 a marker for now - 20 s on a younger account gives 400: ... account creation date', async () => {
      const { registry, clock } = h();
      const text = 'from parameter must be greater than or equal to the account creation date';
      await expectFault(registry.listEvents(t, { marker: boundaryUuid(clock.now() - 20_000, 'max') }), {
        type: 'badRequest',
        status: 400,
        message: text,
        details: text,
      });
    });

    it('E9 a feed poller (500 ms interval, stopped after 800 ms) emits exactly the 3 updates', async () => {
      const { registry, clock } = h();
      const poller = new MarkerPoller(registry, t);
      for (let elapsed = 0; elapsed < 800; elapsed += 500) {
        if (elapsed > 0) clock.advance(500);
        await poller.poll();
      }
      expect(poller.emitted.map((e) => e.id)).toEqual(events.map((e) => e.id));
      expect(poller.count('configuration_value.update')).toBe(3);
    });
  });

  describeTimeoutFeed(h);
  describeRemoveFeed(h);
}

function describeTimeoutFeed(h: HarnessRef): void {
  describe('events: heartbeating, no heartbeat (timeouts)', () => {
    const t = newTenant();
    const ids = ['timeout-svc-1', 'timeout-svc-2'];
    let poller: MarkerPoller;
    let oldToken = '';
    const initialTokens: string[] = [];
    let four: RegistryEvent[] = [];

    it('E10 two services of timeout 3 created one after the other show service.join events', async () => {
      const { registry, clock } = h();
      poller = new MarkerPoller(registry, t);
      await poller.poll();
      for (const id of ids) {
        oldToken = (await registry.createService(t, serviceBody(id, 3))).token as string;
        initialTokens.push(oldToken);
        clock.advance(10);
      }
      const events = (await registry.listEvents(t)).values;
      expect(events.map((e) => e.type)).toEqual(['service.join', 'service.join']);
      expect(events.map(payloadId)).toEqual(ids);
      await poller.poll();
    });

    it('E11 after 4 s, 149 parallel GET /events each list exactly 2 joins then 2 timeouts', async () => {
      const { registry, clock } = h();
      clock.advance(4000);
      const pages = await Promise.all(Array.from({ length: 149 }, () => registry.listEvents(t)));
      const first = pages[0]?.values ?? [];
      for (const page of pages) {
        expect(page.values.map((e) => e.type)).toEqual(['service.join', 'service.join', 'service.timeout', 'service.timeout']);
        expect(page.values.map(payloadId)).toEqual([...ids, ...ids]);
        expect(page.values.map((e) => e.id)).toEqual(first.map((e) => e.id));
      }
      for (const e of first) expectEventShape(e);
      // Spec 6.8: id = the expired (here: initial) token, timestamp = its deadline (creation + 3 s).
      expect(first.slice(2).map((e) => e.id)).toEqual(initialTokens);
      expect(first.slice(2).map((e) => e.timestamp)).toEqual(first.slice(0, 2).map((e) => e.timestamp + 3000));
      four = first;
      await poller.poll();
    });

    it('E12 0.5 s later the list is still exactly those 4', async () => {
      const { registry, clock } = h();
      clock.advance(500);
      expect((await registry.listEvents(t)).values).toEqual(four);
    });

    it('E13 marker = id of [1] with limit=1 lists exactly [1]', async () => {
      const page = await h().registry.listEvents(t, { marker: at(four, 1).id, limit: 1 });
      expect(page.values).toEqual([at(four, 1)]);
      expect(page.metadata.next_marker).toBe(at(four, 2).id);
    });

    it('E14 marker = id of [2] lists 2, the first being [2]', async () => {
      const page = await h().registry.listEvents(t, { marker: at(four, 2).id });
      expect(page.values).toEqual([at(four, 2), at(four, 3)]);
    });

    it('E15 a heartbeat to /services/undefined/heartbeat with an old token gives 404', async () => {
      await expectFault(h().registry.heartbeatService(t, 'undefined', { token: oldToken }), {
        type: 'notFoundError',
        status: 404,
        details: 'Object "Service" with key "undefined" does not exist',
      });
    });

    it('E16 the poller emitted 2 service.join and 2 service.timeout events', async () => {
      await poller.poll();
      expect(poller.count('service.join')).toBe(2);
      expect(poller.count('service.timeout')).toBe(2);
      expect(poller.emitted.map((e) => e.id)).toEqual(four.map((e) => e.id));
    });
  });
}

function describeRemoveFeed(h: HarnessRef): void {
  describe('events: remove service generates an event', () => {
    const t = newTenant();
    const body = { id: 'removed-svc-1', heartbeat_timeout: 30, tags: ['tag1', 'tag2'], metadata: { key: 'value', other: 'thing' } };
    const payload = { id: body.id, heartbeat_timeout: 30, tags: body.tags, metadata: body.metadata };
    let poller: MarkerPoller;

    it('E17 a new account has 0 events; after a create, 1 service.join with the service as payload', async () => {
      const { registry } = h();
      poller = new MarkerPoller(registry, t);
      expect(await poller.poll()).toEqual([]);
      await registry.createService(t, body);
      const events = (await registry.listEvents(t)).values;
      expect(events).toHaveLength(1);
      const e = at(events, 0);
      expectEventShape(e);
      expect(e.type).toBe('service.join');
      expect(e.payload).toEqual(payload);
      await poller.poll();
    });

    it('E18 after DELETE there are 2 events; [1] is service.remove, recent, with the service as payload', async () => {
      const { registry, clock } = h();
      clock.advance(5);
      await registry.deleteService(t, body.id);
      const events = (await registry.listEvents(t)).values;
      expect(events).toHaveLength(2);
      const e = at(events, 1);
      expectEventShape(e);
      expect(e.type).toBe('service.remove');
      expect(e.timestamp).toBeGreaterThan(clock.now() - 4000);
      expect(e.timestamp).toBeLessThanOrEqual(clock.now());
      expect(e.payload).toEqual(payload);
    });

    it('E19 the poller emitted 1 service.join and 1 service.remove', async () => {
      await poller.poll();
      expect(poller.emitted.map((e) => e.type)).toEqual(['service.join', 'service.remove']);
    });
  });
}
