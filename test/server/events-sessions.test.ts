import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Registry } from '../../src/registry/registry.js';
import type { EventHold } from '../../src/registry/event-hold.js';
import type { EventAnswer } from '../../src/registry/event-poll.js';
import type { EventListOptions } from '../../src/registry/types.js';
import { api, raw, serviceBody, startServer, startServerFor, type TestServer } from './helpers.js';

/** Events (spec 9.3, E*) with the wait long-poll, and the sessions extension. */

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s.close();
});

describe('events', () => {
  it('lists, validates marker and type, and keeps type/limit in next_href (E1-E4)', async () => {
    const c = api(s.port, 'ev');
    expect((await c.get('/events')).json.values).toEqual([]);
    const bad = await c.get('/events?marker=0');
    expect(bad.status).toBe(400);
    expect(bad.json.details).toBe('Invalid UUID');
    expect((await c.get('/events?type=invalid')).json.message).toMatch(/^Invalid type: invalid\./);
    const twice = await c.get('/events?type=invalid1&type=invalid2');
    expect(twice.status).toBe(400);
    expect(twice.json.message).toMatch(/^Invalid type: invalid/);

    for (const k of ['key-one', 'key-two', 'key-three']) await c.put(`/configuration/${k}`, { value: k });
    expect((await c.get('/events?type=configuration_value.remove')).json.values).toEqual([]);
    const p1 = await c.get('/events?type=configuration_value.update&limit=1');
    expect(p1.json.values).toHaveLength(1);
    const next = p1.json.metadata.next_marker as string;
    expect(p1.json.metadata.next_href).toBe(`http://127.0.0.1:${s.port}/v1.0/ev/events?type=configuration_value.update&limit=1&marker=${next}`);
    const p2 = await c.get(`/events?marker=${next}&limit=50`);
    expect(p2.json.values.map((e: { id: string }) => e.id)[0]).toBe(next); // inclusive marker
  });

  it('wait: holds the request until an event arrives', async () => {
    const c = api(s.port, 'ev-wait');
    const started = Date.now();
    const poll = c.get('/events?wait=20');
    await new Promise((r) => setTimeout(r, 100));
    await c.put('/configuration/waited-key', { value: 'x' });
    const r = await poll;
    expect(r.status).toBe(200);
    expect(r.json.values.map((e: { type: string }) => e.type)).toEqual(['configuration_value.update']);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('wait: aborts the registry call when the client disconnects', async () => {
    // The server's long-poll is ended through its hold (EventHold), not a signal.
    const seen: EventHold[] = [];
    const spy = new Proxy(s.registry, {
      get(target, prop, receiver) {
        if (prop === 'listEvents') {
          return (tenant: string, opts: EventListOptions, signal?: AbortSignal) => {
            if (opts.hold !== undefined) seen.push(opts.hold);
            return target.listEvents(tenant, opts, signal);
          };
        }
        if (prop === 'pollEvents') {
          return (tenant: string, opts: EventListOptions, answer: EventAnswer) => {
            if (opts.hold !== undefined) seen.push(opts.hold);
            target.pollEvents?.(tenant, opts, answer);
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as Registry;
    const t = await startServerFor(spy);
    try {
      const ac = new AbortController();
      const poll = raw(t.port, 'GET', '/v1.0/ev-gone/events?wait=30', { signal: ac.signal }).catch((e: unknown) => e);
      await expect.poll(() => seen.length).toBe(1);
      expect(seen[0]!.aborted).toBe(false);
      ac.abort();
      await poll;
      await expect.poll(() => seen[0]!.aborted).toBe(true);
    } finally {
      await t.close();
    }
  });
});

describe('sessions', () => {
  it('creates, reads, updates, heartbeats and deletes a session', async () => {
    const c = api(s.port, 'sess');
    const created = await c.post('/sessions', { heartbeat_timeout: 30, metadata: { host: 'a' } });
    expect(created.status).toBe(201);
    const id = created.json.id as string;
    expect(Object.keys(created.json)).toEqual(['id', 'token']);
    expect(created.headers.location).toBe(`http://127.0.0.1:${s.port}/v1.0/sess/sessions/${id}`);

    expect((await c.get(`/sessions/${id}`)).json).toMatchObject({ id, metadata: { host: 'a' }, heartbeat_timeout: 30 });
    expect((await c.get('/sessions')).json.values.map((v: { id: string }) => v.id)).toEqual([id]);

    const upd = await c.put(`/sessions/${id}`, { heartbeat_timeout: 20 });
    expect(upd.status).toBe(204);
    expect(upd.headers.location).toBe(`http://127.0.0.1:${s.port}/v1.0/sess/sessions/${id}`);

    const hb = await c.post(`/sessions/${id}/heartbeat`, { token: created.json.token });
    expect(hb.status).toBe(200);
    expect(hb.json.token).not.toBe(created.json.token);

    const bound = await c.post('/services', { id: 'bound-svc', session_id: id });
    expect(bound.status).toBe(201);
    expect(bound.headers.location).toBe(`http://127.0.0.1:${s.port}/v1.0/sess/services/bound-svc`);

    const del = await c.del(`/sessions/${id}`);
    expect(del.status).toBe(204);
    expect(del.headers.location).toBeUndefined();
    expect((await c.get(`/sessions/${id}`)).status).toBe(404);
    expect((await c.get('/services/bound-svc')).status).toBe(404);
  });

  it('rejects a bad session body and changes nothing', async () => {
    const c = api(s.port, 'sess-bad');
    const r = await c.post('/sessions', { heartbeat_timeout: 500 });
    expect(r.status).toBe(400);
    expect(r.json.message).toBe("Validation error for key 'heartbeat_timeout'");
    expect((await c.get('/sessions')).json.values).toEqual([]);
    expect((await c.post('/services', serviceBody('x-svc', { heartbeat_timeout: 'x' }))).status).toBe(400);
    expect((await c.get('/services')).json.values).toEqual([]);
  });
});
