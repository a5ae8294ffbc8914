import { describe, expect, it } from 'vitest';
import { boundaryUuid } from '../../src/registry/time-uuid.js';
import type { RegistryEvent, ServicePayload } from '../../src/registry/types.js';
import { expectListShape, expectServiceShape, expectSessionShape, expectTimeUuid } from './fixtures-shapes.js';
import { expectFault, newTenant, notFound, serviceBody, type HarnessRef } from './registry-support.js';

const serviceEvents = (events: RegistryEvent[]): Array<[string, string]> =>
  events.filter((e) => e.type.startsWith('service.')).map((e) => [e.type, (e.payload as ServicePayload).id]);

/** The sessions extension (spec 10, DESIGN "Sessions"): one heartbeat chain keeps many services alive. */
export function describeSessions(h: HarnessRef): void {
  describe('extension: sessions', () => {
    it('create returns an id and a v1 token; GET, list and PUT show the session', async () => {
      const { registry } = h();
      const t = newTenant();
      const created = await registry.createSession(t, { heartbeat_timeout: 30, metadata: { region: 'dfw' } });
      expect(typeof created.id).toBe('string');
      expect(created.id.length).toBeGreaterThan(0);
      expectTimeUuid(created.token, 'session token');
      const ses = await registry.getSession(t, created.id);
      expectSessionShape(ses);
      expect(ses).toEqual({ id: created.id, metadata: { region: 'dfw' }, heartbeat_timeout: 30, last_seen: null });
      const list = await registry.listSessions(t);
      expectListShape(list, expectSessionShape);
      expect(list.values.map((s) => s.id)).toEqual([created.id]);
      await registry.updateSession(t, created.id, { heartbeat_timeout: 20, metadata: { region: 'ord' } });
      expect(await registry.getSession(t, created.id)).toMatchObject({ heartbeat_timeout: 20, metadata: { region: 'ord' } });
    });

    it('DELETE removes the session: GET and heartbeat then give 404 Session', async () => {
      const { registry } = h();
      const t = newTenant();
      const { id, token } = await registry.createSession(t, { heartbeat_timeout: 30 });
      await registry.deleteSession(t, id);
      await expectFault(registry.getSession(t, id), notFound('Session', id));
      await expectFault(registry.heartbeatSession(t, id, { token }), notFound('Session', id));
      expect((await registry.listSessions(t)).values).toEqual([]);
      await expectFault(registry.deleteSession(t, id), notFound('Session', id));
    });

    it('heartbeat token chain: a new token each time, a used one gives 404 HeartbeatMarker, last_seen is set', async () => {
      const { registry, clock } = h();
      const t = newTenant();
      const { id, token } = await registry.createSession(t, { heartbeat_timeout: 10 });
      clock.advance(3);
      const next = (await registry.heartbeatSession(t, id, { token })).token;
      expectTimeUuid(next, 'next session token');
      expect(next).not.toBe(token);
      await expectFault(registry.heartbeatSession(t, id, { token }), notFound('HeartbeatMarker', token));
      const unknown = boundaryUuid(clock.now() + 10_000, 'min');
      await expectFault(registry.heartbeatSession(t, id, { token: unknown }), notFound('HeartbeatMarker', unknown));
      expect((await registry.getSession(t, id)).last_seen).toBe(clock.now());
      const third = (await registry.heartbeatSession(t, id, { token: next })).token;
      expect(third).not.toBe(next);
      await expectFault(registry.heartbeatSession(t, 'no-such-session', { token: third }), notFound('Session', 'no-such-session'));
    });

    it("a service created with session_id and no heartbeat_timeout has no token and shows the session's timeout", async () => {
      const { registry } = h();
      const t = newTenant();
      const { id: sessionId } = await registry.createSession(t, { heartbeat_timeout: 12 });
      const reply = await registry.createService(t, { id: 'bound-svc-1', session_id: sessionId, tags: ['web'] });
      expect(reply.token).toBeNull();
      const svc = await registry.getService(t, 'bound-svc-1');
      expectServiceShape(svc, { sessionBound: true });
      expect(svc).toMatchObject({ id: 'bound-svc-1', heartbeat_timeout: 12, session_id: sessionId, tags: ['web'] });
    });

    it('heartbeating the session keeps its services alive past their timeout', async () => {
      const { registry, clock } = h();
      const t = newTenant();
      const session = await registry.createSession(t, { heartbeat_timeout: 3 });
      await registry.createService(t, { id: 'kept-svc-1', session_id: session.id });
      await registry.createService(t, { id: 'kept-svc-2', session_id: session.id });
      let token = session.token;
      for (let i = 0; i < 6; i++) {
        clock.advance(2000);
        token = (await registry.heartbeatSession(t, session.id, { token })).token;
        expect((await registry.listServices(t)).values.map((s) => s.id), `after ${2 * (i + 1)} s`).toEqual(['kept-svc-1', 'kept-svc-2']);
      }
      expect(serviceEvents((await registry.listEvents(t)).values)).toEqual([
        ['service.join', 'kept-svc-1'],
        ['service.join', 'kept-svc-2'],
      ]);
    });

    it('an expired session is removed with its services: one service.timeout event per service', async () => {
      const { registry, clock } = h();
      const t = newTenant();
      const session = await registry.createSession(t, { heartbeat_timeout: 3 });
      await registry.createService(t, { id: 'doomed-svc-1', session_id: session.id });
      await registry.createService(t, { id: 'doomed-svc-2', session_id: session.id });
      await registry.createService(t, serviceBody('independent-svc', 60));
      clock.advance(4000);
      expect((await registry.listServices(t)).values.map((s) => s.id)).toEqual(['independent-svc']);
      await expectFault(registry.getSession(t, session.id), notFound('Session', session.id));
      await expectFault(registry.getService(t, 'doomed-svc-1'), notFound('Service', 'doomed-svc-1'));
      const timeouts = serviceEvents((await registry.listEvents(t)).values).filter(([type]) => type === 'service.timeout');
      expect(timeouts.map(([, id]) => id).sort()).toEqual(['doomed-svc-1', 'doomed-svc-2']);
      await expectFault(registry.heartbeatSession(t, session.id, { token: session.token }), { type: 'notFoundError', status: 404 });
    });

    it('deleting a session removes its services with one service.remove event each', async () => {
      const { registry } = h();
      const t = newTenant();
      const session = await registry.createSession(t, { heartbeat_timeout: 30 });
      await registry.createService(t, { id: 'gone-svc-1', session_id: session.id });
      await registry.createService(t, { id: 'gone-svc-2', session_id: session.id });
      await registry.deleteSession(t, session.id);
      expect((await registry.listServices(t)).values).toEqual([]);
      const removes = serviceEvents((await registry.listEvents(t)).values).filter(([type]) => type === 'service.remove');
      expect(removes.map(([, id]) => id).sort()).toEqual(['gone-svc-1', 'gone-svc-2']);
    });

    it('an unknown session_id on create gives 404 Session and creates nothing', async () => {
      const { registry } = h();
      const t = newTenant();
      await expectFault(registry.createService(t, { id: 'orphan-svc', session_id: 'se12345678' }), notFound('Session', 'se12345678'));
      expect((await registry.listServices(t)).values).toEqual([]);
      expect((await registry.listEvents(t)).values).toEqual([]);
    });
  });
}
