import { describe, expect, it } from 'vitest';
import { RegistryFault } from '../../src/registry/faults.js';
import { boundaryUuid } from '../../src/registry/time-uuid.js';
import type { RegistryImplementation } from '../helpers/registries.js';
import { rawJson } from '../helpers/raw-http.js';
import { expectListShape, expectServiceShape, expectTimeUuid } from './fixtures-shapes.js';
import { describeLastSeenAndIsolation, describeLateHeartbeat, describeRectification } from './registry-services-expiry.js';
import { expectFault, newTenant, notFound, serviceBody, splitSettled, type HarnessRef } from './registry-support.js';

/** Spec 14, test-api-client-services.js: lines S1-S37 (S37 on its own harness without a reaper). */
export function describeServiceLines(impl: RegistryImplementation, h: HarnessRef): void {
  describe('services: test_services_crud', () => {
    const t = newTenant();
    const badServiceId = { type: 'badRequest' as const, status: 400, message: "Invalid value for 'serviceId' query string parameter" };

    it('S1 a new account lists 0 services', async () => {
      const page = await h().registry.listServices(t);
      expectListShape(page, expectServiceShape);
      expect(page.values).toEqual([]);
      expect(page.metadata.count).toBe(0);
    });

    it('S2 21 metadata entries are rejected with a metadata validation error', async () => {
      const metadata = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`key${i}`, `value${i}`]));
      const f = await expectFault(h().registry.createService(t, serviceBody('meta-heavy', 30, { metadata })), {
        type: 'badRequest',
        status: 400,
        details: /Object needs to have between 0 and 20 items/,
      });
      expect(f.message).toMatch(/metadata/);
    });

    it('S3 id srvfoobarsrvfoo is stored unchanged and is the 7th Location segment', async () => {
      const { registry, raw } = h();
      await registry.createService(t, serviceBody('srvfoobarsrvfoo'));
      expect((await registry.getService(t, 'srvfoobarsrvfoo')).id).toBe('srvfoobarsrvfoo');
      if (raw) {
        const other = newTenant();
        const res = await rawJson(raw.url, 'POST', `/v1.0/${other}/services`, serviceBody('srvfoobarsrvfoo'));
        expect(res.status).toBe(201);
        expect(String(res.headers.location).split('/')[6]).toBe('srvfoobarsrvfoo');
      }
    });

    it('S4 GET /services/ab is an invalid serviceId', async () => {
      await expectFault(h().registry.getService(t, 'ab'), badServiceId);
    });

    it('S5 PUT /services/ab is an invalid serviceId', async () => {
      await expectFault(h().registry.updateService(t, 'ab', { heartbeat_timeout: 15 }), badServiceId);
    });

    it('S6 PUT on a 99-character id is an invalid serviceId', async () => {
      await expectFault(h().registry.updateService(t, 'a'.repeat(99), { heartbeat_timeout: 15 }), badServiceId);
    });

    it('S7 an id with dots is accepted and is the Location last segment', async () => {
      const id = 'ord1-messenger1-messenger1.foo.bar';
      const { registry, raw } = h();
      await registry.createService(t, serviceBody(id));
      expect((await registry.getService(t, id)).id).toBe(id);
      if (raw) {
        const res = await rawJson(raw.url, 'POST', `/v1.0/${newTenant()}/services`, serviceBody(id));
        expect(res.status).toBe(201);
        expect(String(res.headers.location).split('/').pop()).toBe(id);
      }
    });

    const messenger = {
      id: 'ord1-messenger1-messenger1',
      heartbeat_timeout: 30,
      tags: ['tag1', 'tag2', 'tag3'],
      metadata: { key1: 'value1', key2: 'value2', key3: 'value3' },
    };

    it('S8 GET returns the created id, heartbeat_timeout, tags and metadata', async () => {
      const { registry } = h();
      await registry.createService(t, messenger);
      const svc = await registry.getService(t, messenger.id);
      expectServiceShape(svc);
      expect(svc).toEqual({ ...messenger, last_seen: null });
    });

    it('S9 PUT heartbeat_timeout 15 succeeds and a later GET shows 15', async () => {
      const { registry, raw } = h();
      await expect(registry.updateService(t, messenger.id, { heartbeat_timeout: 15 })).resolves.toBeUndefined();
      expect((await registry.getService(t, messenger.id)).heartbeat_timeout).toBe(15);
      if (raw) {
        const res = await rawJson(raw.url, 'PUT', `/v1.0/${t}/services/${messenger.id}`, { heartbeat_timeout: 16 });
        expect(res.status).toBe(204);
        expect(String(res.headers.location).split('/').pop()).toBe(messenger.id);
        expect((await registry.getService(t, messenger.id)).heartbeat_timeout).toBe(16);
      }
    });

    it('S10 creating an existing id gives serviceWithThisIdExists', async () => {
      const { registry } = h();
      await registry.createService(t, serviceBody('ord1-api1-api1'));
      await expectFault(registry.createService(t, serviceBody('ord1-api1-api1')), {
        type: 'serviceWithThisIdExists',
        status: 400,
        message: /Service with id ord1-api1-api1 already exists/,
      });
    });

    it("S11 id 'a' is a validation error: String is not in range (3..65)", async () => {
      await expectFault(h().registry.createService(t, serviceBody('a')), {
        type: 'badRequest',
        status: 400,
        message: "Validation error for key 'id'",
        details: 'String is not in range (3..65)',
      });
    });

    it('S12 a 66-character id is the same validation error', async () => {
      await expectFault(h().registry.createService(t, serviceBody('a'.repeat(66))), {
        type: 'badRequest',
        status: 400,
        message: "Validation error for key 'id'",
        details: 'String is not in range (3..65)',
      });
    });
  });

  describe('services: listing, tags and markers', () => {
    const t = newTenant();
    const services = [
      { id: 'svc-1', tags: ['fb303', 'api'] },
      { id: 'svc-2', tags: ['fb303', 'messenger'] },
      { id: 'svc-3', tags: ['fb303'] },
      { id: 'svc-4', tags: ['db'] },
      { id: 'svc-5', tags: [] },
    ];

    it('S13 5 services are listed; marker = 2nd id lists 4 (inclusive)', async () => {
      const { registry } = h();
      for (const s of services) await registry.createService(t, serviceBody(s.id, 30, { tags: s.tags }));
      const all = await registry.listServices(t);
      expectListShape(all, expectServiceShape);
      expect(all.values.map((s) => s.id)).toEqual(services.map((s) => s.id));
      const fromSecond = await registry.listServices(t, { marker: 'svc-2' });
      expect(fromSecond.values.map((s) => s.id)).toEqual(['svc-2', 'svc-3', 'svc-4', 'svc-5']);
    });

    it("S14 tag '', tag=' and a tag with CR/LF are invalid tag parameters", async () => {
      for (const tag of ['', "'", 'you@example.com\r\nCc:you@example.com']) {
        await expectFault(h().registry.listServices(t, { tag }), {
          type: 'badRequest',
          status: 400,
          message: "Invalid value for 'tag' query string parameter",
        });
      }
    });

    it('S15 tag=messenger lists 1 and tag=fb303 lists 3', async () => {
      const { registry } = h();
      expect((await registry.listServices(t, { tag: 'messenger' })).values.map((s) => s.id)).toEqual(['svc-2']);
      expect((await registry.listServices(t, { tag: 'fb303' })).values.map((s) => s.id)).toEqual(['svc-1', 'svc-2', 'svc-3']);
    });

    it('S16 tag=fb303 with marker = 2nd id lists 2, and limit=1 lists 1', async () => {
      const { registry } = h();
      const two = await registry.listServices(t, { tag: 'fb303', marker: 'svc-2' });
      expect(two.values.map((s) => s.id)).toEqual(['svc-2', 'svc-3']);
      expect(two.metadata.next_marker).toBeNull();
      const one = await registry.listServices(t, { tag: 'fb303', marker: 'svc-2', limit: 1 });
      expect(one.values.map((s) => s.id)).toEqual(['svc-2']);
      expect(one.metadata.next_marker).toBe('svc-3');
    });

    it('S17 DELETE succeeds and a later GET gives 404', async () => {
      const { registry } = h();
      await expect(registry.deleteService(t, 'svc-5')).resolves.toBeUndefined();
      await expectFault(registry.getService(t, 'svc-5'), notFound('Service', 'svc-5'));
    });

    it('S18 PUT tags [] and metadata {a: b} replaces, not merges', async () => {
      const { registry } = h();
      await registry.updateService(t, 'svc-1', { metadata: { x: 'y' } });
      await registry.updateService(t, 'svc-1', { tags: [], metadata: { a: 'b' } });
      const svc = await registry.getService(t, 'svc-1');
      expect(svc.tags).toEqual([]);
      expect(svc.metadata).toEqual({ a: 'b' });
    });

    it('S19 10 parallel creates of one id: exactly 1 succeeds, 9 get serviceWithThisIdExists', async () => {
      const { registry } = h();
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, () => registry.createService(t, serviceBody('some-service-1'))),
      );
      const { ok, faults } = splitSettled(results);
      expect(ok).toHaveLength(1);
      expect(faults).toHaveLength(9);
      for (const f of faults) {
        expect(f.type).toBe('serviceWithThisIdExists');
        expect(f.status).toBe(400);
        expect(f.message).toMatch(/Service with id some-service-1 already exists/);
      }
    });
  });

  describe('services: exact match, quick death, not found', () => {
    const t = newTenant();

    it('S20 GET ...messengerA returns that service, not ...messengerAA', async () => {
      const { registry } = h();
      await registry.createService(t, serviceBody('ord1-messenger1-messengerA', 30, { metadata: { which: 'A' } }));
      await registry.createService(t, serviceBody('ord1-messenger1-messengerAA', 30, { metadata: { which: 'AA' } }));
      const svc = await registry.getService(t, 'ord1-messenger1-messengerA');
      expect(svc.id).toBe('ord1-messenger1-messengerA');
      expect(svc.metadata).toEqual({ which: 'A' });
    });

    it('S21 register waits for the quick death of the previous instance', async () => {
      const { registry, clock } = h();
      const id = 'quick-death-1';
      const start = clock.now();
      await registry.createService(t, serviceBody(id, 3));
      // register(): retry POST every 2 s while the id exists (Node client: 15 tries).
      const refusedAt: number[] = [];
      let createdAt: number | undefined;
      for (let attempt = 0; attempt < 15 && createdAt === undefined; attempt++) {
        if (attempt > 0) clock.advance(2000);
        try {
          await registry.createService(t, serviceBody(id, 10, { tags: ['srv2'] }));
          createdAt = clock.now() - start;
        } catch (err) {
          if (!(err instanceof RegistryFault)) throw err;
          expect(err.type).toBe('serviceWithThisIdExists');
          refusedAt.push(clock.now() - start);
        }
      }
      expect(refusedAt.length).toBeGreaterThan(0);
      for (const at of refusedAt) expect(at).toBeLessThanOrEqual(3000);
      expect(createdAt).toBeGreaterThan(3000);
      expect(createdAt).toBeLessThanOrEqual(5000);
      const svc = await registry.getService(t, id);
      expect(svc.tags).toEqual(['srv2']);
      expect(svc.heartbeat_timeout).toBe(10);
    });

    it('S22 GET of a missing service names it exactly in details', async () => {
      await expectFault(h().registry.getService(t, 'nonExistentService'), notFound('Service', 'nonExistentService'));
    });
  });

  describe('services: test_service_heartbeating', () => {
    const t = newTenant();
    let token = '';
    let otherToken = '';

    it('S23 create returns a body with a token', async () => {
      const { registry } = h();
      const reply = await registry.createService(t, serviceBody('hb-svc-1', 30));
      token = expectTimeUuid(reply.token, 'initial token');
      otherToken = expectTimeUuid((await registry.createService(t, serviceBody('hb-svc-2', 30))).token, 'initial token');
    });

    it("S24 heartbeat on an unknown service with another service's valid token is 404 Service", async () => {
      await expectFault(h().registry.heartbeatService(t, 'hb-svc-unknown', { token: otherToken }), notFound('Service', 'hb-svc-unknown'));
    });

    it('S25 heartbeat with a well-formed unknown v1 UUID is 404 HeartbeatMarker', async () => {
      const { registry, clock } = h();
      const unknown = boundaryUuid(clock.now() + 30_000, 'min');
      await expectFault(registry.heartbeatService(t, 'hb-svc-1', { token: unknown }), notFound('HeartbeatMarker', unknown));
    });

    it('S26 heartbeat with the initial token returns a new, different 36-char token', async () => {
      const reply = await h().registry.heartbeatService(t, 'hb-svc-1', { token });
      const next = expectTimeUuid(reply.token, 'next token');
      expect(next).toHaveLength(36);
      expect(next).not.toBe(token);
      token = next;
    });

    it('S27 after a heartbeat last_seen is set and later than the time before it, in GET and in the list', async () => {
      const { registry, clock } = h();
      const before = clock.now();
      clock.advance(7);
      await registry.heartbeatService(t, 'hb-svc-1', { token });
      await registry.heartbeatService(t, 'hb-svc-2', { token: otherToken });
      const svc = await registry.getService(t, 'hb-svc-1');
      expect(svc.last_seen).not.toBeNull();
      expect(svc.last_seen as number).toBeGreaterThan(before);
      expect(svc.last_seen as number).toBeLessThanOrEqual(clock.now());
      const list = await registry.listServices(t);
      expect(list.values).toHaveLength(2);
      for (const s of list.values) {
        expect(s.last_seen, s.id).not.toBeNull();
        expect(s.last_seen as number, s.id).toBeGreaterThan(before);
      }
    });
  });

  describeRectification(h);
  describeLastSeenAndIsolation(h);
  describeLateHeartbeat(impl);
}
