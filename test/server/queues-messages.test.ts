import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useEtcd } from '../helpers/etcd.js';
import { defaultHeaders, messages, queuesClient, queueWith, startQueuesServer, type QueuesClient, type QueuesTestServer } from './queues-helpers.js';

/** Transport-level lines of spec section 10 for queues and messages: headers, hrefs, Client-ID, query parsing. */

const etcd = useEtcd();
let srv: QueuesTestServer;
let c: QueuesClient;

function messageHeadersAndHrefs(): void {
  describe('queues wire: message headers and hrefs', () => {
    it('F-M01 POST 1 message -> 201 with location and content-type; F-M02 GET resources[0] -> 200, same body', async () => {
      await c.put('/v1/queues/fm01');
      const r = await c.post('/v1/queues/fm01/messages', [{ ttl: 300, body: { event: 'BackupStarted' } }]);
      expect(r.status).toBe(201);
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(r.json.partial).toBe(false);
      const href = r.json.resources[0] as string;
      expect(href).toMatch(/^\/v1\/queues\/fm01\/messages\/[^/?]+$/);
      expect(r.headers.location).toBe(`/v1/queues/fm01/messages?ids=${href.split('/').pop()}`);
      const g = await c.get(href);
      expect(g.status).toBe(200);
      expect(g.json).toEqual({ href, ttl: 300, age: expect.any(Number), body: { event: 'BackupStarted' } });
      expect(g.headers['content-location']).toBe(href);
    });

    it('U-13 / U-24 resources follow Location order; by-ids hrefs are message hrefs (no /messages/messages)', async () => {
      const hrefs = await queueWith(c, 'u13', 3);
      const ids = hrefs.map((h) => h.split('/').pop());
      const r = await c.get(`/v1/queues/u13/messages?ids=${ids.join(',')}`);
      expect(r.status).toBe(200);
      expect(r.headers['content-location']).toBe(`/v1/queues/u13/messages?ids=${ids.join(',')}`);
      expect((r.json as Array<{ href: string }>).map((m) => m.href).sort()).toEqual([...hrefs].sort());
      for (const m of r.json) expect(m.href).not.toContain('/messages/messages');
      const other = queuesClient(srv.port, defaultHeaders({ 'x-project-id': 'someone-else' }));
      expect((await other.get(hrefs[0] as string)).status).toBe(404);
    });

    it('F-M04 POST 20 -> 201; GET the Location URL -> 200 with the 20 messages', async () => {
      await c.put('/v1/queues/fm04');
      const r = await c.post('/v1/queues/fm04/messages', messages(20));
      expect(r.status).toBe(201);
      const g = await c.get(r.headers.location as string);
      expect(g.status).toBe(200);
      expect(g.json).toHaveLength(20);
    });

    it('F-M07 / U-18 DELETE the Location URL -> 204, GET it -> 204; DELETE .../messages without ids -> 400 Missing query parameter', async () => {
      await c.put('/v1/queues/fm07');
      const r = await c.post('/v1/queues/fm07/messages', messages(10));
      expect((await c.del(r.headers.location as string)).status).toBe(204);
      expect((await c.get(r.headers.location as string)).status).toBe(204);
      const none = await c.del('/v1/queues/fm07/messages');
      expect(none.status).toBe(400);
      expect(none.json.title).toBe('Missing query parameter');
    });

    it('python-zaqarclient form: repeated ids parameters (ids=a&ids=b) are one list', async () => {
      const hrefs = await queueWith(c, 'repeated', 2);
      const [a, b] = hrefs.map((h) => h.split('/').pop());
      const r = await c.get(`/v1/queues/repeated/messages?ids=${a}&ids=${b}`);
      expect(r.status).toBe(200);
      expect(r.json).toHaveLength(2);
      expect((await c.del(`/v1/queues/repeated/messages?ids=${a}&ids=${b}`)).status).toBe(204);
      expect((await c.get(`/v1/queues/repeated/messages?ids=${a},${b}`)).status).toBe(204);
    });

    it('F-M05 / U-19 paging with echo=True&limit=3 follows links[0].href (booleans written true) to a 204; Content-Location = path?query', async () => {
      await queueWith(c, 'u19', 10);
      let next = '/v1/queues/u19/messages?echo=True&limit=3';
      const pages: number[] = [];
      for (;;) {
        const r = await c.get(next);
        if (r.status === 204) break;
        expect(r.status).toBe(200);
        expect(r.headers['content-location']).toBe(next);
        pages.push(r.json.messages.length);
        expect(r.json.links).toHaveLength(1);
        next = r.json.links[0].href;
        expect(next).toMatch(/^\/v1\/queues\/u19\/messages\?echo=true&limit=3&marker=[^&]+$/);
      }
      expect(pages).toEqual([3, 3, 3, 1]);
    });

    it('4.4 queue list: next link keeps supplied params, replaces marker; Content-Location = path?query; detailed=yes', async () => {
      const p = queuesClient(srv.port, defaultHeaders({ 'x-project-id': 'listing' }));
      for (const n of ['q1', 'q2', 'q3']) await p.put(`/v1/queues/${n}`);
      await p.put('/v1/queues/q1/metadata', { node: 31 });
      const r = await p.get('/v1/queues?limit=2&detailed=yes');
      expect(r.status).toBe(200);
      expect(r.headers['content-location']).toBe('/v1/queues?limit=2&detailed=yes');
      expect(r.json).toEqual({
        queues: [
          { name: 'q1', href: '/v1/queues/q1', metadata: { node: 31 } },
          { name: 'q2', href: '/v1/queues/q2', metadata: {} },
        ],
        links: [{ rel: 'next', href: '/v1/queues?limit=2&detailed=true&marker=q2' }],
      });
      const last = await p.get(r.json.links[0].href);
      expect(last.json.queues).toEqual([{ name: 'q3', href: '/v1/queues/q3', metadata: {} }]);
      expect((await p.get(last.json.links[0].href)).status).toBe(204);
    });

    it('F-Q10 / F-Q11 non-detailed items have exactly name and href; detailed=True adds metadata', async () => {
      const p = queuesClient(srv.port, defaultHeaders({ 'x-project-id': 'fq10' }));
      await p.put('/v1/queues/only');
      expect((await p.get('/v1/queues')).json.queues).toEqual([{ name: 'only', href: '/v1/queues/only' }]);
      expect((await p.get('/v1/queues?detailed=True')).json.queues[0]).toEqual({ name: 'only', href: '/v1/queues/only', metadata: {} });
    });

    it('4.5 / U-08 metadata PUT sets Location, GET sets Content-Location', async () => {
      await c.put('/v1/queues/u08');
      const put = await c.put('/v1/queues/u08/metadata', { a: 1 });
      expect(put.status).toBe(204);
      expect(put.headers.location).toBe('/v1/queues/u08/metadata');
      const get = await c.get('/v1/queues/u08/metadata');
      expect(get.headers['content-location']).toBe('/v1/queues/u08/metadata');
    });

    it('F-Q19 / U-19 stats oldest/newest have exactly age, created, href; the hrefs answer 200', async () => {
      await queueWith(c, 'fq19', 3);
      const r = await c.get('/v1/queues/fq19/stats');
      expect(r.status).toBe(200);
      expect(r.headers['content-location']).toBe('/v1/queues/fq19/stats');
      for (const end of [r.json.messages.oldest, r.json.messages.newest]) {
        expect(Object.keys(end).sort()).toEqual(['age', 'created', 'href']);
        expect(end.href).toMatch(/^\/v1\/queues\/fq19\/messages\/[^/]+$/);
        expect(end.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        expect((await c.get(end.href)).status).toBe(200);
      }
    });
  });
}

function clientId(): void {
  describe('queues wire: Client-ID', () => {
    it('F-M17 / U-16 Client-ID absent, empty, 1234, aa2-bb3, 0xdeadbeef, one char long/short -> 400 on list and post', async () => {
      await c.put('/v1/queues/fm17');
      const uuid = randomUUID();
      const bad: Array<string | undefined> = [undefined, '', '1234', 'aa2-bb3', '0xdeadbeef', `${uuid}0`, uuid.slice(0, -1)];
      for (const id of bad) {
        const h = defaultHeaders();
        if (id === undefined) delete h['client-id'];
        else h['client-id'] = id;
        const p = queuesClient(srv.port, h);
        const list = await p.get('/v1/queues/fm17/messages');
        expect(list.status, String(id)).toBe(400);
        expect(list.json.title).toBe(id === undefined || id === '' ? 'Missing header' : 'Invalid API call');
        expect((await p.post('/v1/queues/fm17/messages', messages(1))).status).toBe(400);
      }
    });

    it('2.1 Client-ID as Python uuid.UUID reads it: no hyphens, braces, urn:uuid:, upper case -> accepted; echo sees them as one client', async () => {
      const hex = randomUUID().replace(/-/g, '');
      const forms = [hex, `{${hex}}`, `urn:uuid:${hex}`, hex.toUpperCase()];
      await c.put('/v1/queues/uuidforms');
      for (const form of forms) {
        const p = queuesClient(srv.port, defaultHeaders({ 'client-id': form }));
        expect((await p.post('/v1/queues/uuidforms/messages', messages(1))).status, form).toBe(201);
      }
      const same = queuesClient(srv.port, defaultHeaders({ 'client-id': hex }));
      expect((await same.get('/v1/queues/uuidforms/messages')).status).toBe(204);
      expect((await same.get('/v1/queues/uuidforms/messages?echo=true')).json.messages).toHaveLength(4);
    });

    it('A6 other message routes never require a Client-ID (get by ids, get one, delete)', async () => {
      const hrefs = await queueWith(c, 'a6', 1);
      const h = defaultHeaders();
      delete h['client-id'];
      const p = queuesClient(srv.port, h);
      const id = (hrefs[0] as string).split('/').pop();
      expect((await p.get(`/v1/queues/a6/messages?ids=${id}`)).status).toBe(200);
      expect((await p.get(hrefs[0] as string)).status).toBe(200);
      expect((await p.del(hrefs[0] as string)).status).toBe(204);
    });
  });
}

function queryParameters(): void {
  describe('queues wire: query parameters', () => {
    it('F-M13 / U-14 limit 10000000000000000000, -100, 0, 30, -1e19, abc, 1.5 -> 400', async () => {
      await queueWith(c, 'fm13', 1);
      for (const limit of ['10000000000000000000', '-100', '0', '30', '21', '-10000000000000000000', 'abc', '1.5']) {
        const r = await c.get(`/v1/queues/fm13/messages?limit=${limit}&echo=true`);
        expect(r.status, limit).toBe(400);
        expect(['Invalid API call', 'Invalid query parameter']).toContain(r.json.title);
      }
      expect((await c.get('/v1/queues/fm13/messages?limit=abc')).json.title).toBe('Invalid query parameter');
    });

    it('F-Q12 / U-09 queue list limit 0, -1, 21, 1001 -> 400', async () => {
      for (const limit of ['0', '-1', '21', '1001']) expect((await c.get(`/v1/queues?limit=${limit}`)).status, limit).toBe(400);
    });

    it('A18 booleans: True/yes/true and False/no/false accepted; anything else -> 400 Invalid query parameter', async () => {
      await queueWith(c, 'a18', 1);
      for (const v of ['true', 'True', 'yes']) expect((await c.get(`/v1/queues/a18/messages?echo=${v}`)).status, v).toBe(200);
      for (const v of ['false', 'False', 'no']) expect((await c.get(`/v1/queues/a18/messages?echo=${v}`)).status, v).toBe(204);
      for (const v of ['1', 'TRUE', 'on', 'y']) {
        const r = await c.get(`/v1/queues/a18/messages?include_claimed=${v}`);
        expect(r.status, v).toBe(400);
        expect(r.json.title).toBe('Invalid query parameter');
      }
      expect((await c.get('/v1/queues?detailed=maybe')).status).toBe(400);
    });

    it('F-M14 / F-M15 21 ids on DELETE and GET -> 400; F-M16 marker=invalid -> 204; F-M19 unknown ids -> 204', async () => {
      const ids = Array.from({ length: 21 }, (_, i) => `id${i}`).join(',');
      expect((await c.del(`/v1/queues/fm13/messages?ids=${ids}`)).status).toBe(400);
      expect((await c.get(`/v1/queues/fm13/messages?ids=${ids}`)).status).toBe(400);
      expect((await c.get('/v1/queues/fm13/messages?marker=invalid&echo=true')).status).toBe(204);
      expect((await c.get('/v1/queues/fm13/messages?ids=not_there1,not_there2')).status).toBe(204);
    });

    it('2.4 unknown parameters are ignored', async () => {
      expect((await c.get('/v1/queues/fm13/messages?echo=true&color=blue')).status).toBe(200);
    });

    it('F-M18 / F-M08 / F-M20 GET a missing message -> 404 empty body; DELETE it -> 204', async () => {
      const g = await c.get('/v1/queues/fm13/messages/non-existing-message');
      expect(g.status).toBe(404);
      expect(g.text).toBe('');
      expect((await c.del('/v1/queues/fm13/messages/non-existing')).status).toBe(204);
    });

    it('F-Q16 / U-20 GET /v1/queues?marker=zzz -> 204; list on a missing queue -> 204', async () => {
      expect((await c.get('/v1/queues?marker=zzz')).status).toBe(204);
      expect((await c.get('/v1/queues/nothere/messages')).status).toBe(204);
    });
  });
}

function missingQueuesAndMessages(): void {
  describe('queues wire: missing queues and messages', () => {
    it('F-Q20 a queue never created: GET 404, stats 404, metadata 404, messages 204, POST 404, claims 204, DELETE 204', async () => {
      const q = '/v1/queues/0a5b1b85-4263-11e3-b034-28cfe91478b9';
      for (const path of [q, `${q}/stats`, `${q}/metadata`]) {
        const r = await c.get(path);
        expect(r.status, path).toBe(404);
        expect(r.text).toBe('');
      }
      expect((await c.get(`${q}/messages`)).status).toBe(204);
      expect((await c.post(`${q}/messages`, [{ ttl: 200, body: { Home: '' } }])).status).toBe(404);
      expect((await c.post(`${q}/claims`, { ttl: 200, grace: 300 })).status).toBe(204);
      expect((await c.del(q)).status).toBe(204);
    });

    it('U-15 POST to a missing 64-char queue -> 404, 65-char -> 400; U-22 ?ids=a,b,c on a missing queue: GET 204, DELETE 204', async () => {
      expect((await c.post(`/v1/queues/${'m'.repeat(64)}/messages`, messages(1))).status).toBe(404);
      expect((await c.post(`/v1/queues/${'m'.repeat(65)}/messages`, messages(1))).status).toBe(400);
      expect((await c.get('/v1/queues/notthere/messages/a')).status).toBe(404);
      expect((await c.get('/v1/queues/notthere/messages?ids=a,b,c')).status).toBe(204);
      expect((await c.del('/v1/queues/notthere/messages?ids=a,b,c')).status).toBe(204);
    });

    it('F-M06 / F-M09 / F-M10 DELETE resources[0] -> 204, GET it -> 404; ids with a nonexisting one: GET 200, DELETE 204; U-14 22 ids -> 400', async () => {
      const hrefs = await queueWith(c, 'fm06', 4);
      const ids = hrefs.map((h) => h.split('/').pop() as string);
      expect((await c.del(hrefs[0] as string)).status).toBe(204);
      expect((await c.get(hrefs[0] as string)).status).toBe(404);
      const some = `/v1/queues/fm06/messages?ids=${ids.slice(1).join(',')},nonexisting`;
      const got = await c.get(some);
      expect(got.status).toBe(200);
      expect(got.json.map((m: { href: string }) => m.href).sort()).toEqual(hrefs.slice(1).sort());
      for (const m of got.json) expect(Object.keys(m).sort()).toEqual(['age', 'body', 'href', 'ttl']);
      expect((await c.del(some)).status).toBe(204);
      expect((await c.get(some)).status).toBe(204);
      const many = Array.from({ length: 22 }, (_, i) => `x${i}`).join(',');
      expect((await c.del(`/v1/queues/fm06/messages?ids=${many}`)).status).toBe(400);
    });
  });
}

// Last, so that every constant above is initialized when the suites are collected.
describe.each(['sqlite', 'etcd'] as const)('queues wire, messages on %s', (store) => {
  beforeAll(async () => {
    srv = await startQueuesServer(store === 'etcd' ? { etcdEndpoints: etcd().endpoints } : {});
    c = queuesClient(srv.port);
  });
  afterAll(() => srv.close());
  messageHeadersAndHrefs();
  clientId();
  queryParameters();
  missingQueuesAndMessages();
});
