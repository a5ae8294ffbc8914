import { describe, expect, it } from 'vitest';
import { setTimeout as delay } from 'node:timers/promises';
import { boundaryUuid, uuidTime } from '../../src/registry/time-uuid.js';
import type { RegistryImplementation } from '../helpers/registries.js';
import { expectLimitsShape } from './fixtures-shapes.js';
import { expectFault, newTenant, notFound, serviceBody, useHarness, type HarnessRef } from './registry-support.js';

/** Resource limits (spec 5.1), on a harness whose accounts start with tiny limits. */
export function describeResourceLimits(impl: RegistryImplementation): void {
  describe('resource limits (spec 5.1)', () => {
    const h = useHarness(impl, { defaultLimits: { service: 3, configuration_value: 2 } });
    const serviceLimit = {
      type: 'limitReached' as const,
      status: 400,
      message: 'Resource limit has been reached',
      details: 'Limit for resource service has been reached. Maximum allowed objects: 3',
    };

    it('GET /limits shows the limits new accounts start with', async () => {
      const limits = await h().registry.getLimits(newTenant());
      expectLimitsShape(limits);
      expect(limits.resource).toMatchObject({ service: 3, configuration_value: 2 });
    });

    it('the 4th service is refused with limitReached; a deleted or timed-out one frees its slot', async () => {
      const { registry, clock } = h();
      const t = newTenant();
      for (const id of ['lim-svc-1', 'lim-svc-2']) await registry.createService(t, serviceBody(id, 60));
      await registry.createService(t, serviceBody('lim-svc-3', 3));
      await expectFault(registry.createService(t, serviceBody('lim-svc-4', 60)), serviceLimit);
      await registry.deleteService(t, 'lim-svc-1');
      await registry.createService(t, serviceBody('lim-svc-4', 60));
      await expectFault(registry.createService(t, serviceBody('lim-svc-5', 60)), serviceLimit);
      clock.advance(4000);
      await registry.createService(t, serviceBody('lim-svc-5', 60));
      expect((await registry.listServices(t)).values.map((s) => s.id)).toEqual(['lim-svc-2', 'lim-svc-4', 'lim-svc-5']);
    });

    it('a 3rd configuration key is refused; updating an existing key never is; a deleted key frees its slot', async () => {
      const { registry } = h();
      const t = newTenant();
      await registry.setConfig(t, 'lim-key-1', { value: 'a' });
      await registry.setConfig(t, 'lim-key-2', { value: 'b' });
      await expectFault(registry.setConfig(t, 'lim-key-3', { value: 'c' }), {
        type: 'limitReached',
        status: 400,
        message: 'Resource limit has been reached',
        details: 'Limit for resource configuration_value has been reached. Maximum allowed objects: 2',
      });
      await registry.setConfig(t, 'lim-key-2', { value: 'b2' });
      expect(await registry.getConfig(t, 'lim-key-2')).toEqual({ id: 'lim-key-2', value: 'b2' });
      await registry.deleteConfig(t, 'lim-key-1');
      await registry.setConfig(t, 'lim-key-3', { value: 'c' });
      expect((await registry.listConfig(t)).values.map((v) => v.id)).toEqual(['lim-key-2', 'lim-key-3']);
    });
  });
}

/** Time-related rules beyond the checklist: timeout changes, the one-hour window, retention. */
export function describeTimeRules(impl: RegistryImplementation, h: HarnessRef): void {
  describe('time rules', () => {
    it('a heartbeat_timeout change applies from the next token; the current deadline does not move', async () => {
      const { registry, clock } = h();
      const t = newTenant();
      const created = clock.now();
      const { token } = await registry.createService(t, serviceBody('retimed-svc', 10));
      expect(uuidTime(token as string)).toBe(created + 10_000);
      await registry.updateService(t, 'retimed-svc', { heartbeat_timeout: 3 });
      clock.advance(5000);
      expect((await registry.getService(t, 'retimed-svc')).heartbeat_timeout).toBe(3);
      const next = (await registry.heartbeatService(t, 'retimed-svc', { token })).token;
      expect(uuidTime(next)).toBe(clock.now() + 3000);
      clock.advance(3001);
      await expectFault(registry.getService(t, 'retimed-svc'), notFound('Service', 'retimed-svc'));
    });

    it('without a marker the feed shows the last hour; older events stay reachable with a marker', async () => {
      const { registry, clock } = h();
      const t = newTenant();
      await registry.setConfig(t, 'old-key', { value: 'old' });
      const old = (await registry.listEvents(t)).values;
      expect(old).toHaveLength(1);
      clock.advance(2 * 60 * 60 * 1000);
      await registry.setConfig(t, 'new-key', { value: 'new' });
      const recent = (await registry.listEvents(t)).values;
      expect(recent.map((e) => (e.payload as { configuration_value_id: string }).configuration_value_id)).toEqual(['new-key']);
      const marked = (await registry.listEvents(t, { marker: old[0]?.id as string })).values;
      expect(marked.map((e) => (e.payload as { configuration_value_id: string }).configuration_value_id)).toEqual(['old-key', 'new-key']);
    });

    describe('event retention', () => {
      const r = useHarness(impl, { eventRetentionMs: 60_000, reaperIntervalMs: 0 });

      it('events older than the retention are gone after a maintenance pass', async () => {
        const { registry, clock, service } = r();
        const t = newTenant();
        const start = clock.now();
        await registry.setConfig(t, 'kept-key', { value: 'first' });
        clock.advance(2 * 60_000);
        await registry.setConfig(t, 'kept-key', { value: 'second' });
        const marker = boundaryUuid(start, 'min');
        expect((await registry.listEvents(t, { marker })).values).toHaveLength(2);
        await service.maintain();
        const left = (await registry.listEvents(t, { marker })).values;
        expect(left.map((e) => (e.payload as { new_value: string }).new_value)).toEqual(['second']);
        expect(await registry.getConfig(t, 'kept-key')).toEqual({ id: 'kept-key', value: 'second' });
      });
    });
  });
}

/** The `wait` extension of GET /events (DESIGN "Events"): a long-poll until an event at or after marker exists. */
export function describeLongPoll(h: HarnessRef): void {
  describe('extension: events wait (long-poll)', () => {
    it('wait=5 with a marker at now answers within ~200 ms of a concurrent change', async () => {
      const { registry, clock } = h();
      const t = newTenant();
      await registry.getLimits(t);
      const marker = boundaryUuid(clock.now(), 'min');
      let settled = false;
      const polling = registry.listEvents(t, { marker, wait: 5 }).finally(() => {
        settled = true;
      });
      await delay(50);
      expect(settled, 'the long-poll must still be waiting').toBe(false);
      const changedAt = performance.now();
      await registry.setConfig(t, 'waited-key', { value: 'now' });
      const page = await polling;
      const latency = performance.now() - changedAt;
      expect(page.values.map((e) => e.type)).toEqual(['configuration_value.update']);
      expect(latency).toBeLessThan(250);
    });

    it('wait=1 with nothing happening answers an empty list after about 1 s', async () => {
      const { registry, clock } = h();
      const t = newTenant();
      await registry.getLimits(t);
      const started = performance.now();
      const page = await registry.listEvents(t, { marker: boundaryUuid(clock.now(), 'min'), wait: 1 });
      const elapsed = performance.now() - started;
      expect(page.values).toEqual([]);
      expect(elapsed).toBeGreaterThanOrEqual(950);
      expect(elapsed).toBeLessThan(2500);
    });

    it('wait above 60 gives 400', async () => {
      await expectFault(h().registry.listEvents(newTenant(), { wait: 61 }), { type: 'badRequest', status: 400 });
    });
  });
}
