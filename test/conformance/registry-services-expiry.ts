import { describe, expect, it } from 'vitest';
import { uuidTime } from '../../src/registry/time-uuid.js';
import type { RegistryEvent, Service } from '../../src/registry/types.js';
import type { RegistryImplementation } from '../helpers/registries.js';
import { expectTimeUuid } from './fixtures-shapes.js';
import { newTenant, serviceBody, splitSettled, useHarness, type HarnessRef } from './registry-support.js';

/** Spec 14, services lines S28-S37: expiry with heartbeats, last_seen, tenant isolation, late heartbeats. */

/** Heartbeats every service in `tokens` each `everyMs` of FakeClock time for `forMs`, keeping each entry at its newest token. */
async function heartbeatFor(h: HarnessRef, t: string, tokens: Map<string, string>, everyMs: number, forMs: number): Promise<void> {
  const { registry, clock } = h();
  for (let elapsed = everyMs; elapsed <= forMs; elapsed += everyMs) {
    clock.advance(everyMs);
    for (const [id, token] of tokens) {
      const reply = await registry.heartbeatService(t, id, { token });
      tokens.set(id, reply.token);
    }
  }
}

const serviceTypes = (events: RegistryEvent[]): string[] => events.map((e) => e.type);

export function describeRectification(h: HarnessRef): void {
  describe('services: HeartBeater and list services rectification', () => {
    const t = newTenant();
    const short = ['service-a-1', 'service-a-2', 'service-a-3'];

    it('S28 3 services heartbeated every 1.8 s for 10 s plus one of timeout 30: exactly 4 service.join events', async () => {
      const { registry, clock } = h();
      const tokens = new Map<string, string>();
      for (const id of short) {
        tokens.set(id, (await registry.createService(t, serviceBody(id, 3))).token as string);
        clock.advance(1);
      }
      await registry.createService(t, serviceBody('service-long-1', 30));
      await heartbeatFor(h, t, tokens, 1800, 10_000);
      const events = await registry.listEvents(t);
      expect(serviceTypes(events.values)).toEqual(['service.join', 'service.join', 'service.join', 'service.join']);
      expect((await registry.listServices(t)).values).toHaveLength(4);
    });

    it('S29 5 s after heartbeating stops only the timeout-30 service is listed', async () => {
      const { registry, clock } = h();
      clock.advance(5000);
      const list = await registry.listServices(t);
      expect(list.values.map((s: Service) => s.id)).toEqual(['service-long-1']);
    });

    it('S30 events then hold 4 joins followed by 3 timeouts, every payload id starting with service-', async () => {
      const events = (await h().registry.listEvents(t)).values;
      expect(serviceTypes(events)).toEqual([
        'service.join', 'service.join', 'service.join', 'service.join',
        'service.timeout', 'service.timeout', 'service.timeout',
      ]);
      for (const e of events) expect((e.payload as { id: string }).id).toMatch(/^service-/);
      expect(events.slice(4).map((e) => (e.payload as { id: string }).id).sort()).toEqual(short);
    });
  });

  describe('services: HeartBeater and fetch service rectification', () => {
    const t = newTenant();
    const id = 'service-fetch-1';

    let lastToken = '';

    it('S31 one service heartbeated for 10 s has exactly 1 service.join event', async () => {
      const { registry } = h();
      const tokens = new Map([[id, (await registry.createService(t, serviceBody(id, 3))).token as string]]);
      await heartbeatFor(h, t, tokens, 1800, 10_000);
      lastToken = tokens.get(id) as string;
      const events = (await registry.listEvents(t)).values;
      expect(serviceTypes(events)).toEqual(['service.join']);
      expect((events[0]?.payload as { id: string }).id).toBe(id);
    });

    it('S32 5 s after heartbeating stops, 12 parallel GETs all give 404', async () => {
      const { registry, clock } = h();
      clock.advance(5000);
      const results = await Promise.allSettled(Array.from({ length: 12 }, () => registry.getService(t, id)));
      const { ok, faults } = splitSettled(results);
      expect(ok).toEqual([]);
      expect(faults).toHaveLength(12);
      for (const f of faults) expect(f.details).toBe(`Object "Service" with key "${id}" does not exist`);
    });

    it('S33 events then hold exactly 2, [1] the service.timeout (no duplicates)', async () => {
      const events = (await h().registry.listEvents(t)).values;
      expect(serviceTypes(events)).toEqual(['service.join', 'service.timeout']);
      expect((events[1]?.payload as { id: string }).id).toBe(id);
      // Spec 6.8: a timeout event's id is the expired token and its timestamp the deadline.
      expect(events[1]?.id).toBe(lastToken);
      expect(events[1]?.timestamp).toBe(uuidTime(lastToken));
    });
  });
}

export function describeLastSeenAndIsolation(h: HarnessRef): void {
  describe('services: last_seen is removed when deleting a service', () => {
    const t = newTenant();
    const id = 'last-seen-svc';

    it('S34 after create and heartbeat last_seen >= the test start time', async () => {
      const { registry, clock } = h();
      const start = clock.now();
      const { token } = await registry.createService(t, serviceBody(id, 30));
      await registry.heartbeatService(t, id, { token });
      const svc = await registry.getService(t, id);
      expect(svc.last_seen).not.toBeNull();
      expect(svc.last_seen as number).toBeGreaterThanOrEqual(start);
    });

    it('S35 after delete and re-create with the same id last_seen is null', async () => {
      const { registry } = h();
      await registry.deleteService(t, id);
      await registry.createService(t, serviceBody(id, 30));
      expect((await registry.getService(t, id)).last_seen).toBeNull();
    });
  });

  describe('services: different account isolation', () => {
    it('S36 9 tenants with the same 3 ids each list exactly their own 3 services', async () => {
      const { registry } = h();
      const tenants = Array.from({ length: 9 }, () => newTenant());
      const ids = ['iso-svc-1', 'iso-svc-2', 'iso-svc-3'];
      for (const tn of tenants) {
        for (const id of ids) {
          await registry.createService(tn, serviceBody(id, 30, { tags: ['shared', 'tags'], metadata: { name: `${id}-${tn}` } }));
        }
      }
      for (const tn of tenants) {
        const list = await registry.listServices(tn);
        expect(list.values.map((s) => s.id)).toEqual(ids);
        for (const s of list.values) {
          expect(s.tags).toEqual(['shared', 'tags']);
          expect(s.metadata).toEqual({ name: `${s.id}-${tn}` });
        }
      }
    });
  });
}

export function describeLateHeartbeat(impl: RegistryImplementation): void {
  // Spec 6.8: this line holds with no background reaper, or one with >= 5 s grace.
  // This harness runs none (reaperIntervalMs 0), so only the pass before reads expires services.
  describe('services: late heartbeats are ok (no background reaper)', () => {
    const h = useHarness(impl, { reaperIntervalMs: 0 });

    it('S37 a heartbeat 8 s after the previous one (timeout 5) still succeeds and the service stays', async () => {
      const { registry, clock } = h();
      const t = newTenant();
      const id = 'late-heartbeat-1';
      const { token } = await registry.createService(t, serviceBody(id, 5));
      const second = (await registry.heartbeatService(t, id, { token })).token;
      expect(uuidTime(second)).toBe(clock.now() + 5000);
      clock.advance(8000);
      const third = (await registry.heartbeatService(t, id, { token: second })).token;
      expectTimeUuid(third, 'token after a late heartbeat');
      expect(third).not.toBe(second);
      expect((await registry.getService(t, id)).id).toBe(id);
    });
  });
}
