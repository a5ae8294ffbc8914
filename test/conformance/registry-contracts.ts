import { describe, expect, it } from 'vitest';
import { expectFault, newTenant, notFound, serviceBody, splitSettled, type HarnessRef } from './registry-support.js';

/** The "Contract" rules of spec section 13 that are visible through the Registry interface. */
export function describeAmbiguityContracts(h: HarnessRef): void {
  describe('ambiguity contracts (spec 13)', () => {
    it('AMB-6 tag=db (shorter than 3 chars) is a valid tag query', async () => {
      const { registry } = h();
      const t = newTenant();
      await registry.createService(t, serviceBody('dfw1-db1', 30, { tags: ['db', 'mysql'] }));
      await registry.createService(t, serviceBody('dfw1-api', 30, { tags: ['api'] }));
      expect((await registry.listServices(t, { tag: 'db' })).values.map((s) => s.id)).toEqual(['dfw1-db1']);
    });

    it('AMB-7 a PUT body id equal to the path id is ignored; a different one gives 400 and changes nothing', async () => {
      const { registry } = h();
      const t = newTenant();
      await registry.createService(t, serviceBody('amb7-svc', 30, { tags: ['before'] }));
      await registry.updateService(t, 'amb7-svc', { id: 'amb7-svc', tags: ['after'] });
      expect((await registry.getService(t, 'amb7-svc')).tags).toEqual(['after']);
      await expectFault(registry.updateService(t, 'amb7-svc', { id: 'amb7-other', tags: ['changed'] }), {
        type: 'badRequest',
        status: 400,
        message: "Validation error for key 'id'",
      });
      expect(await registry.getService(t, 'amb7-svc')).toMatchObject({ id: 'amb7-svc', tags: ['after'] });
      await expectFault(registry.getService(t, 'amb7-other'), notFound('Service', 'amb7-other'));
    });

    it('AMB-8 DELETE invalidates tokens: an old token on a re-created service gives 404 HeartbeatMarker', async () => {
      const { registry } = h();
      const t = newTenant();
      const old = (await registry.createService(t, serviceBody('amb8-svc', 30))).token as string;
      await registry.deleteService(t, 'amb8-svc');
      const fresh = (await registry.createService(t, serviceBody('amb8-svc', 30))).token as string;
      await expectFault(registry.heartbeatService(t, 'amb8-svc', { token: old }), notFound('HeartbeatMarker', old));
      const next = await registry.heartbeatService(t, 'amb8-svc', { token: fresh });
      expect(next.token).not.toBe(fresh);
    });

    it("AMB-9 another service's live token gives 404 HeartbeatMarker and is not consumed", async () => {
      const { registry } = h();
      const t = newTenant();
      const tokenA = (await registry.createService(t, serviceBody('amb9-svc-a', 30))).token as string;
      const tokenB = (await registry.createService(t, serviceBody('amb9-svc-b', 30))).token as string;
      await expectFault(registry.heartbeatService(t, 'amb9-svc-a', { token: tokenB }), notFound('HeartbeatMarker', tokenB));
      const b = await registry.heartbeatService(t, 'amb9-svc-b', { token: tokenB });
      expect(b.token).not.toBe(tokenB);
      expect((await registry.getService(t, 'amb9-svc-a')).last_seen).toBeNull();
      await registry.heartbeatService(t, 'amb9-svc-a', { token: tokenA });
    });

    it('heartbeat reuse (13.16): a consumed token gives 404 HeartbeatMarker; of 8 parallel uses of a live one exactly one succeeds', async () => {
      const { registry } = h();
      const t = newTenant();
      const token = (await registry.createService(t, serviceBody('reuse-svc', 30))).token as string;
      const next = (await registry.heartbeatService(t, 'reuse-svc', { token })).token;
      await expectFault(registry.heartbeatService(t, 'reuse-svc', { token }), notFound('HeartbeatMarker', token));
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => registry.heartbeatService(t, 'reuse-svc', { token: next })));
      const { ok, faults } = splitSettled(results);
      expect(ok).toHaveLength(1);
      for (const f of faults) expect(f.details).toBe(`Object "HeartbeatMarker" with key "${next}" does not exist`);
    });

    it('an unchanged configuration value writes no event (spec 8.5)', async () => {
      const { registry } = h();
      const t = newTenant();
      await registry.setConfig(t, 'same-key', { value: 'same' });
      await registry.setConfig(t, 'same-key', { value: 'same' });
      expect((await registry.listEvents(t)).values).toHaveLength(1);
    });

    it("AMB-10 PUT and DELETE of a configuration id ending in '/' give 400 and store nothing", async () => {
      const { registry } = h();
      const t = newTenant();
      await expectFault(registry.setConfig(t, '/abc/def/', { value: 'v' }), { type: 'badRequest', status: 400 });
      await expectFault(registry.deleteConfig(t, '/abc/def/'), { type: 'badRequest', status: 400 });
      expect((await registry.listConfig(t)).values).toEqual([]);
      expect((await registry.listEvents(t)).values).toEqual([]);
    });

    it('AMB-12 namespace /production/cassandra does not include /production/cassandra2/...', async () => {
      const { registry } = h();
      const t = newTenant();
      for (const id of ['/production/cassandra', '/production/cassandra/listen_ip', '/production/cassandra2/host', '/production/cassandra_x']) {
        await registry.setConfig(t, id, { value: id });
      }
      const ns = await registry.listConfig(t, { namespace: '/production/cassandra' });
      expect(ns.values.map((v) => v.id)).toEqual(['/production/cassandra', '/production/cassandra/listen_ip']);
    });

    it('AMB-13 the event type filter applies before pagination: full pages, next_marker only when more match', async () => {
      const { registry, clock } = h();
      const t = newTenant();
      // update A, join 1, update B, join 2, update C, join 3, update D
      for (let i = 0; i < 4; i++) {
        await registry.setConfig(t, `amb13-key-${i}`, { value: `v${i}` });
        clock.advance(1);
        if (i < 3) await registry.createService(t, serviceBody(`amb13-svc-${i}`, 60));
        clock.advance(1);
      }
      const all = (await registry.listEvents(t)).values;
      expect(all).toHaveLength(7);
      const updates = all.filter((e) => e.type === 'configuration_value.update');
      const first = await registry.listEvents(t, { type: 'configuration_value.update', limit: 2 });
      expect(first.values.map((e) => e.id)).toEqual([updates[0]?.id, updates[1]?.id]);
      expect(first.metadata.next_marker).toBe(updates[2]?.id);
      const second = await registry.listEvents(t, { type: 'configuration_value.update', limit: 2, marker: first.metadata.next_marker as string });
      expect(second.values.map((e) => e.id)).toEqual([updates[2]?.id, updates[3]?.id]);
      expect(second.metadata.next_marker).toBeNull();
      const joins = await registry.listEvents(t, { type: 'service.join', limit: 3 });
      expect(joins.values.map((e) => e.type)).toEqual(['service.join', 'service.join', 'service.join']);
      expect(joins.metadata.next_marker).toBeNull();
    });
  });
}
