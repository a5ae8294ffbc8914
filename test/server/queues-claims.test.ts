import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useEtcd } from '../helpers/etcd.js';
import { defaultHeaders, queuesClient, queueWith, startQueuesServer, type QueuesClient, type QueuesTestServer } from './queues-helpers.js';

/** Transport-level lines of spec section 10 for claims, and the `wait=` long-poll extension. */

const etcd = useEtcd();
let srv: QueuesTestServer;
let c: QueuesClient;

const HUGE = ['10000000000000000000', '-10000000000000000000'];

/** Resolves once the server counts `n` queue long-polls waiting (its /metrics gauge). */
async function pollsWaiting(url: string, n: number): Promise<void> {
  await expect
    .poll(async () => (await (await fetch(`${url}/metrics`)).text()).match(/tether_long_polls_waiting\{api="queues"\} (\d+)/)?.[1], { timeout: 5000 })
    .toBe(String(n));
}

function claims(): void {
  describe('queues wire: claims', () => {
    it('F-C01 claim -> 201 with location and content-type; items {href ...?claim_id=CID, ttl, age, body} only; limit=2 -> <= 2', async () => {
      await queueWith(c, 'fc01', 20);
      const r = await c.post('/v1/queues/fc01/claims', { ttl: 300, grace: 100 });
      expect(r.status).toBe(201);
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
      const location = r.headers.location as string;
      expect(location).toMatch(/^\/v1\/queues\/fc01\/claims\/[^/?]+$/);
      const cid = location.split('/').pop() as string;
      expect(r.json.length).toBeGreaterThan(0);
      expect(r.json.length).toBeLessThanOrEqual(10);
      for (const m of r.json) {
        expect(Object.keys(m).sort()).toEqual(['age', 'body', 'href', 'ttl']);
        expect(m.href).toMatch(new RegExp(`^/v1/queues/fc01/messages/[^/?]+\\?claim_id=${cid}$`));
      }
      const two = await c.post('/v1/queues/fc01/claims?limit=2', { ttl: 300, grace: 100 });
      expect(two.json.length).toBeLessThanOrEqual(2);
    });

    it('F-C02 GET the claim Location -> 200 with exactly {age, ttl, href, messages} and Content-Location', async () => {
      await queueWith(c, 'fc02', 3);
      const r = await c.post('/v1/queues/fc02/claims?limit=1', { ttl: 300, grace: 100 });
      const location = r.headers.location as string;
      const g = await c.get(location);
      expect(g.status).toBe(200);
      expect(g.headers['content-location']).toBe(location);
      expect(Object.keys(g.json).sort()).toEqual(['age', 'href', 'messages', 'ttl']);
      expect(g.json.href).toBe(location);
      expect(g.json.messages[0].href).toBe(r.json[0].href);
    });

    it('F-C04 / F-C06 PATCH the claim {ttl: 300} -> 204, GET shows ttl 300; DELETE it -> 204, GET -> 404 empty', async () => {
      await queueWith(c, 'fc04', 2);
      const r = await c.post('/v1/queues/fc04/claims', { ttl: 120, grace: 400 });
      const location = r.headers.location as string;
      expect((await c.patch(location, { ttl: 300 })).status).toBe(204);
      expect((await c.get(location)).json.ttl).toBe(300);
      expect((await c.del(location)).status).toBe(204);
      const gone = await c.get(location);
      expect(gone.status).toBe(404);
      expect(gone.text).toBe('');
    });

    it('F-C05 DELETE each claimed href (with its claim_id) -> 204; without claim_id a claimed message -> 403 Unable to delete', async () => {
      await queueWith(c, 'fc05', 3);
      const r = await c.post('/v1/queues/fc05/claims', { ttl: 60, grace: 60 });
      const [first, ...rest] = r.json as Array<{ href: string }>;
      const bare = (first?.href as string).split('?')[0] as string;
      const refused = await c.del(bare);
      expect(refused.status).toBe(403);
      expect(refused.json.title).toBe('Unable to delete');
      for (const m of [first, ...rest]) expect((await c.del((m as { href: string }).href)).status).toBe(204);
    });

    it('F-C03 / U-26 claim limit=21 -> 400; F-C07 / F-C08 / F-C09 out-of-range and int64-overflowing ttl/grace -> 400', async () => {
      await queueWith(c, 'fc07', 1);
      expect((await c.post('/v1/queues/fc07/claims?limit=21', { ttl: 300, grace: 100 })).status).toBe(400);
      for (const v of [...HUGE, '-100', '1', '59', '43201']) {
        expect((await c.post('/v1/queues/fc07/claims', `{"ttl": ${v}, "grace": 100}`)).status, `ttl ${v}`).toBe(400);
        expect((await c.post('/v1/queues/fc07/claims', `{"ttl": 100, "grace": ${v}}`)).status, `grace ${v}`).toBe(400);
      }
      for (const v of ['0', '-100', '30']) expect((await c.post('/v1/queues/fc07/claims', `{"ttl": 100, "grace": ${v}}`)).status).toBe(400);
    });

    it('F-C10 PATCH with out-of-range and overflowing ttl -> 400; 2.5 ttl/grace as 300.0 -> 400 Invalid request body', async () => {
      await queueWith(c, 'fc10', 1);
      const r = await c.post('/v1/queues/fc10/claims', { ttl: 100, grace: 100 });
      const location = r.headers.location as string;
      for (const v of [...HUGE, '-100', '1', '59', '43201']) expect((await c.patch(location, `{"ttl": ${v}}`)).status, v).toBe(400);
      const float = await c.patch(location, '{"ttl": 300.0}');
      expect(float.status).toBe(400);
      expect(float.json.title).toBe('Invalid request body');
      expect((await c.post('/v1/queues/fc10/claims', '{"ttl": 100, "grace": 1e2}')).json.title).toBe('Invalid request body');
    });

    it('U-25 claim POST and PATCH with body absent, [, [], {}, ., "fail" -> 400', async () => {
      await queueWith(c, 'u25', 1);
      const r = await c.post('/v1/queues/u25/claims', { ttl: 100, grace: 100 });
      const location = r.headers.location as string;
      expect((await c.post('/v1/queues/u25/claims')).status).toBe(400);
      expect((await c.patch(location)).status).toBe(400);
      for (const body of ['[', '[]', '{}', '.', '"fail"']) {
        expect((await c.post('/v1/queues/u25/claims', body)).status, body).toBe(400);
        expect((await c.patch(location, body)).status, body).toBe(400);
      }
    });

    it('F-C11 / F-C12 / F-C13 non-existing claim: GET 404, PATCH 404, DELETE 204; A10 claim on a missing queue -> 204 without Location', async () => {
      await c.put('/v1/queues/fc11');
      expect((await c.get('/v1/queues/fc11/claims/non-existing-claim')).status).toBe(404);
      expect((await c.patch('/v1/queues/fc11/claims/non-existing-claim', { ttl: 400 })).status).toBe(404);
      expect((await c.del('/v1/queues/fc11/claims/non-existing-claim')).status).toBe(204);
      const none = await c.post('/v1/queues/0a5b1b85-4263-11e3-b034-28cfe91478b9/claims', { ttl: 200, grace: 300 });
      expect(none.status).toBe(204);
      expect(none.headers.location).toBeUndefined();
      expect(none.text).toBe('');
    });
  });
}

function waitLongPollExtension(): void {
  describe('queues wire: wait= long-poll extension', () => {
    it('POST claims?wait=5 on an empty queue answers 201 as soon as a message is posted', async () => {
      await c.put('/v1/queues/waitclaim');
      const started = Date.now();
      const pending = c.post('/v1/queues/waitclaim/claims?wait=5', { ttl: 60, grace: 60 });
      await pollsWaiting(srv.url, 1);
      expect((await c.post('/v1/queues/waitclaim/messages', [{ ttl: 60, body: 'late' }])).status).toBe(201);
      const r = await pending;
      expect(r.status).toBe(201);
      expect(r.json[0].body).toBe('late');
      expect(Date.now() - started).toBeLessThan(4000);
    });

    it('GET messages?wait=1 with nothing to list answers 204 after about a second; the next link keeps wait', async () => {
      await c.put('/v1/queues/waitlist');
      const started = Date.now();
      expect((await c.get('/v1/queues/waitlist/messages?wait=1')).status).toBe(204);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      const other = queuesClient(srv.port, defaultHeaders());
      await other.post('/v1/queues/waitlist/messages', [{ ttl: 60, body: 1 }]);
      const r = await c.get('/v1/queues/waitlist/messages?wait=1');
      expect(r.json.links[0].href).toMatch(/^\/v1\/queues\/waitlist\/messages\?wait=1&marker=/);
    });

    it('wait that is not a number of seconds -> 400 Invalid query parameter', async () => {
      for (const w of ['-1', 'soon', '1e3']) {
        const r = await c.get(`/v1/queues/waitlist/messages?wait=${w}`);
        expect(r.status, w).toBe(400);
        expect(r.json.title).toBe('Invalid query parameter');
      }
    });

    it('wait beyond the server maximum (max_wait_ms lowered to 1 s) is capped, as the in-process service caps it (U15 S2)', async () => {
      const own = await startQueuesServer({ limits: { maxWaitMs: 1000 } });
      try {
        const oc = queuesClient(own.port);
        await oc.put('/v1/queues/capped');
        for (const [method, path] of [['get', '/v1/queues/capped/messages?wait=10'], ['post', '/v1/queues/capped/claims?wait=31']] as const) {
          const started = Date.now();
          const r = method === 'get' ? await oc.get(path) : await oc.post(path, { ttl: 60, grace: 60 });
          const took = Date.now() - started;
          expect(r.status, path).toBe(204);
          expect(took, path).toBeGreaterThanOrEqual(950);
          expect(took, path).toBeLessThan(8000);
        }
      } finally {
        await own.close();
      }
    });

    it('a client that leaves a waiting claim frees its wait at once (the long-poll count drops back to 0)', async () => {
      await c.put('/v1/queues/leaving');
      const ctl = new AbortController();
      const pending = c.post('/v1/queues/leaving/claims?wait=20', { ttl: 60, grace: 60 }, { signal: ctl.signal }).catch((err: Error) => err);
      await pollsWaiting(srv.url, 1);
      ctl.abort();
      expect(await pending).toBeInstanceOf(Error);
      await pollsWaiting(srv.url, 0);
      // Nothing was claimed for the client that left: a message posted now is free.
      await c.post('/v1/queues/leaving/messages', [{ ttl: 60, body: 'free' }]);
      expect((await c.get('/v1/queues/leaving/stats')).json.messages).toMatchObject({ claimed: 0, free: 1 });
    });

    it('server close() ends a waiting claim with 503 + Retry-After: 30', async () => {
      const own = await startQueuesServer();
      try {
        const oc = queuesClient(own.port);
        await oc.put('/v1/queues/closing');
        const pending = oc.post('/v1/queues/closing/claims?wait=20', { ttl: 60, grace: 60 });
        await pollsWaiting(own.url, 1);
        const started = Date.now();
        await own.server.close();
        const r = await pending;
        expect(r.status).toBe(503);
        expect(r.headers['retry-after']).toBe('30');
        expect(r.json.title).toBe('Service temporarily unavailable');
        expect(Date.now() - started).toBeLessThan(3000);
      } finally {
        await own.close();
      }
    });
  });
}

// Last, so that every constant above is initialized when the suites are collected.
describe.each(['sqlite', 'etcd'] as const)('queues wire, claims on %s', (store) => {
  beforeAll(async () => {
    srv = await startQueuesServer(store === 'etcd' ? { etcdEndpoints: etcd().endpoints } : {});
    c = queuesClient(srv.port);
  });
  afterAll(() => srv.close());
  claims();
  waitLongPollExtension();
});
