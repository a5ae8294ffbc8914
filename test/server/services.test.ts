import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, raw, serviceBody, startServer, type TestServer } from './helpers.js';

/** Services over HTTP (spec 6, checklist S*), through the real RegistryService. */

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s.close();
});

describe('services', () => {
  it('creates with 201 + absolute Location (port kept) and a token', async () => {
    const c = api(s.port, '7777');
    expect((await c.get('/services')).json.values).toEqual([]); // S1
    const r = await c.post('/services', serviceBody('srvfoobarsrvfoo'));
    expect(r.status).toBe(201);
    expect(r.headers['content-type']).toBe('application/json; charset=UTF-8');
    expect(r.headers.location).toBe(`http://127.0.0.1:${s.port}/v1.0/7777/services/srvfoobarsrvfoo`);
    expect(r.headers.location!.split('/')[6]).toBe('srvfoobarsrvfoo'); // S3
    expect(r.json.token).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const dotted = await c.post('/services', serviceBody('ord1-messenger1-messenger1.foo.bar'));
    expect(dotted.headers.location!.split('/').pop()).toBe('ord1-messenger1-messenger1.foo.bar'); // S7
  });

  it('uses the Host header and X-Forwarded-Proto for Location', async () => {
    const c = api(s.port, 'loc', { host: 'registry.example:8443', 'x-forwarded-proto': 'https' });
    const r = await c.post('/services', serviceBody('loc-one'));
    expect(r.headers.location).toBe('https://registry.example:8443/v1.0/loc/services/loc-one');
    const u = await c.put('/services/loc-one', { heartbeat_timeout: 15 });
    expect(u.status).toBe(204);
    expect(u.text).toBe('');
    expect(u.headers.location).toBe('https://registry.example:8443/v1.0/loc/services/loc-one'); // S9
    expect(u.headers['content-type']).toBeUndefined();
    const d = await c.del('/services/loc-one');
    expect(d.status).toBe(204);
    expect(d.headers.location).toBeUndefined();
  });

  it('reads, updates, heartbeats and deletes', async () => {
    const c = api(s.port, 'crud');
    const created = await c.post('/services', serviceBody('ord1-api1-api1', { heartbeat_timeout: 30, tags: ['a', 'b', 'c'], metadata: { a: '1', b: '2', c: '3' } }));
    const got = await c.get('/services/ord1-api1-api1');
    expect(got.json).toEqual({ id: 'ord1-api1-api1', tags: ['a', 'b', 'c'], metadata: { a: '1', b: '2', c: '3' }, heartbeat_timeout: 30, last_seen: null }); // S8
    expect((await c.get('/services/ord1-api1-api1/')).status).toBe(200); // trailing slash ignored

    const before = Date.now();
    const hb = await c.post('/services/ord1-api1-api1/heartbeat', { token: created.json.token });
    expect(hb.status).toBe(200);
    expect(hb.headers['content-type']).toBe('application/json; charset=UTF-8');
    expect(hb.json.token).toHaveLength(36);
    expect(hb.json.token).not.toBe(created.json.token); // S26
    expect((await c.get('/services/ord1-api1-api1')).json.last_seen).toBeGreaterThanOrEqual(before); // S27
    const reuse = await c.post('/services/ord1-api1-api1/heartbeat', { token: created.json.token });
    expect(reuse.status).toBe(404);
    expect(reuse.json.details).toContain('HeartbeatMarker');

    await c.put('/services/ord1-api1-api1', { tags: [], metadata: { a: 'b' } });
    expect((await c.get('/services/ord1-api1-api1')).json).toMatchObject({ tags: [], metadata: { a: 'b' } }); // S18
    const dup = await c.post('/services', serviceBody('ord1-api1-api1'));
    expect(dup.json).toMatchObject({ type: 'serviceWithThisIdExists', message: 'Service with id ord1-api1-api1 already exists.' }); // S10
    expect((await c.del('/services/ord1-api1-api1')).status).toBe(204);
    const gone = await c.get('/services/ord1-api1-api1');
    expect(gone.status).toBe(404); // S17
    expect(gone.json.details).toBe('Object "Service" with key "ord1-api1-api1" does not exist');
  });

  it('reports path id and body validation faults (S4-S6, S11)', async () => {
    const c = api(s.port, 'valid');
    for (const r of [await c.get('/services/ab'), await c.put('/services/ab', {}), await c.put(`/services/${'a'.repeat(99)}`, {})]) {
      expect(r.status).toBe(400);
      expect(r.json.message).toBe("Invalid value for 'serviceId' query string parameter");
    }
    const bad = await c.post('/services', serviceBody('a'));
    expect(bad.json).toMatchObject({ message: "Validation error for key 'id'", details: 'String is not in range (3..65)' });
  });

  it('a fault changes nothing', async () => {
    const c = api(s.port, 'nochange');
    const meta = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v']));
    const r = await c.post('/services', serviceBody('too-much-meta', { metadata: meta }));
    expect(r.status).toBe(400);
    expect(r.json.message).toContain('metadata');
    expect(r.json.details).toContain('Object needs to have between 0 and 20 items'); // S2
    expect((await c.get('/services')).json).toMatchObject({ values: [], metadata: { count: 0 } });
    expect((await c.get('/events')).json.values).toEqual([]);
  });

  it('paginates with next_href keeping the query params in order (S13, S16)', async () => {
    const c = api(s.port, 'page');
    for (const id of ['svc-1', 'svc-2', 'svc-3', 'svc-4', 'svc-5']) {
      await c.post('/services', serviceBody(id, { tags: id === 'svc-1' ? ['other'] : ['fb303'] }));
    }
    expect((await c.get('/services')).json.values).toHaveLength(5);
    expect((await c.get('/services?marker=svc-2')).json.values).toHaveLength(4);

    const p1 = await c.get('/services?tag=fb303&limit=2');
    expect(p1.json.values.map((v: { id: string }) => v.id)).toEqual(['svc-2', 'svc-3']);
    expect(p1.json.metadata).toEqual({
      count: 2,
      limit: 2,
      marker: null,
      next_marker: 'svc-4',
      next_href: `http://127.0.0.1:${s.port}/v1.0/page/services?tag=fb303&limit=2&marker=svc-4`,
    });
    const p2 = await c.get('/services?marker=svc-3&tag=fb303&limit=1');
    expect(p2.json.metadata.next_href).toBe(`http://127.0.0.1:${s.port}/v1.0/page/services?marker=svc-4&tag=fb303&limit=1`);
    const href = new URL(p1.json.metadata.next_href as string);
    const p3 = await raw(s.port, 'GET', href.pathname + href.search, { headers: { 'content-type': 'application/json' } });
    expect(p3.json.values.map((v: { id: string }) => v.id)).toEqual(['svc-4', 'svc-5']);
    expect(p3.json.metadata.next_href).toBeNull();
  });

  it('takes the first of repeated limit/marker params', async () => {
    const c = api(s.port, 'page');
    const r = await c.get('/services?limit=1&limit=3&marker=svc-2&marker=svc-4');
    expect(r.json.values.map((v: { id: string }) => v.id)).toEqual(['svc-2']);
    expect(r.json.metadata.next_href).toBe(`http://127.0.0.1:${s.port}/v1.0/page/services?limit=1&limit=3&marker=svc-3`);
  });

  it('validates the tag and limit query params (S14, S15)', async () => {
    const c = api(s.port, 'page');
    for (const q of ['tag=', "tag='", 'tag=x%0D%0ACc:y']) {
      const r = await c.get(`/services?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.json.message).toBe("Invalid value for 'tag' query string parameter");
    }
    expect((await c.get('/services?tag=other')).json.values).toHaveLength(1);
    expect((await c.get('/services?limit=')).json).toMatchObject({ type: 'invalidLimit', details: 'Limit must be a number' });
    expect((await c.get('/services?limit=1001')).json.type).toBe('invalidLimit');
  });

  it('keeps tenants apart (S36)', async () => {
    await api(s.port, 'iso-a').post('/services', serviceBody('shared-id', { metadata: { name: 'a' } }));
    await api(s.port, 'iso-b').post('/services', serviceBody('shared-id', { metadata: { name: 'b' } }));
    expect((await api(s.port, 'iso-a').get('/services/shared-id')).json.metadata).toEqual({ name: 'a' });
    expect((await api(s.port, 'iso-b').get('/services/shared-id')).json.metadata).toEqual({ name: 'b' });
  });

  it('S19: parallel creates of one id give exactly one success', async () => {
    const c = api(s.port, 'race');
    const replies = await Promise.all(Array.from({ length: 10 }, () => c.post('/services', serviceBody('some-service-1'))));
    expect(replies.filter((r) => r.status === 201)).toHaveLength(1);
    const rest = replies.filter((r) => r.status !== 201);
    expect(rest).toHaveLength(9);
    for (const r of rest) expect(r.json.message).toBe('Service with id some-service-1 already exists.');
  });
});
