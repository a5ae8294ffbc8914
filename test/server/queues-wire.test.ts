import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useEtcd } from '../helpers/etcd.js';
import { createAuthTable } from '../../src/server/index.js';
import { raw } from './helpers.js';
import { defaultHeaders, queuesClient, queueWith, startQueuesServer, type QueuesTestServer } from './queues-helpers.js';

/**
 * Transport-level lines of spec section 10 (Accept, project header, names,
 * 404/405/OPTIONS, home document, health, auth) against a real server.
 * The semantic lines are the domain suite's (test/conformance/queues-*).
 */

const etcd = useEtcd();
let srv: QueuesTestServer;

const JSON_UTF8 = 'application/json; charset=utf-8';

function acceptProjectNames(): void {
  describe('queues wire: Accept, project, names', () => {
    it('F-Q05 PUT queue with only Accept: plain/text -> 406 with the spec title', async () => {
      const r = await raw(srv.port, 'PUT', '/v1/queues/fq05', { headers: { accept: 'plain/text' } });
      expect(r.status).toBe(406);
      expect(r.headers['content-type']).toBe(JSON_UTF8);
      expect(r.json.title).toBe('Media type not acceptable');
    });

    it('F-Q06 PUT queue with only Accept: */* (no project, no Client-ID) -> 201 with Location', async () => {
      const r = await raw(srv.port, 'PUT', '/v1/queues/fq06', { headers: { accept: '*/*' } });
      expect(r.status).toBe(201);
      expect(r.headers.location).toBe('/v1/queues/fq06');
    });

    it('F-Q01 PUT queue names qtestqueue, TESTqueue, hyphen-name, _undersore, i*64 -> 201 + Location; F-Q02 metadata {}', async () => {
      const c = queuesClient(srv.port);
      for (const name of ['qtestqueue', 'TESTqueue', 'hyphen-name', '_undersore', 'i'.repeat(64)]) {
        const r = await c.put(`/v1/queues/${name}`);
        expect(r.status, name).toBe(201);
        expect(r.headers.location).toBe(`/v1/queues/${name}`);
        const m = await c.get(`/v1/queues/${name}/metadata`);
        expect(m.status).toBe(200);
        expect(m.json).toEqual({});
      }
    });

    it('U-11 Accept: application/xml -> 406 on queues, metadata, stats, post, message, claims, claim, health', async () => {
      const c = queuesClient(srv.port, defaultHeaders({ accept: 'application/xml' }));
      const calls = [
        c.get('/v1/queues'),
        c.get('/v1/queues/u11/metadata'),
        c.get('/v1/queues/u11/stats'),
        c.post('/v1/queues/u11/messages', [{ ttl: 60, body: 1 }]),
        c.get('/v1/queues/u11/messages/abc'),
        c.post('/v1/queues/u11/claims', { ttl: 60, grace: 60 }),
        c.get('/v1/queues/u11/claims/abc'),
        c.get('/v1/health'),
      ];
      for (const r of await Promise.all(calls)) {
        expect(r.status).toBe(406);
        expect(r.json.title).toBe('Media type not acceptable');
      }
    });

    it('2.1 Accept with q-values: application/json;q=0 refuses, application/*;q=0.5 and a list with */* accept', async () => {
      const accept = (a: string) => raw(srv.port, 'GET', '/v1/health', { headers: { accept: a } });
      expect((await accept('application/json;q=0')).status).toBe(406);
      expect((await accept('text/html, application/*;q=0.5')).status).toBe(204);
      expect((await accept('text/html;q=0.9, */*;q=0.1')).status).toBe(204);
      expect((await accept('')).status).toBe(204);
    });

    it('U-01 X-Project-Id "" -> 400 on GET, PUT, HEAD, DELETE of a queue', async () => {
      const c = queuesClient(srv.port, defaultHeaders({ 'x-project-id': '' }));
      for (const r of [await c.get('/v1/queues/u01'), await c.put('/v1/queues/u01'), await c.del('/v1/queues/u01')]) {
        expect(r.status).toBe(400);
        expect(r.json.title).toBe('Empty project header not allowed');
      }
      expect((await c.head('/v1/queues/u01')).status).toBe(400);
    });

    it('F-Q03 / U-03 / U-05 names 汉字漢字, @$@^qw, Nice-Bo@t, i*65, Latin-1 bytes -> 400, also on metadata', async () => {
      const c = queuesClient(srv.port);
      const bad = [encodeURIComponent('汉字漢字'), encodeURIComponent('@$@^qw'), 'Nice-Bo@t', 'i'.repeat(65), '_' + 'niceboat'.repeat(8), 'caf%E9', '%zz'];
      for (const name of bad) {
        const r = await c.put(`/v1/queues/${name}`);
        expect(r.status, name).toBe(400);
        expect(r.json.title).toBe('Invalid queue identification');
        expect((await c.get(`/v1/queues/${name}/metadata`)).status).toBe(400);
        expect((await c.del(`/v1/queues/${name}`)).status).toBe(400);
      }
      expect((await c.put('/v1/queues/Nice-Boat_2')).status).toBe(201);
    });

    it('U-04 project id "JAM Project"*24 (264 chars) -> 400; "JAM Project" -> 201', async () => {
      const long = queuesClient(srv.port, defaultHeaders({ 'x-project-id': 'JAM Project'.repeat(24) }));
      const r = await long.put('/v1/queues/u04');
      expect(r.status).toBe(400);
      expect(r.json.title).toBe('Invalid queue identification');
      expect((await queuesClient(srv.port, defaultHeaders({ 'x-project-id': 'JAM Project' })).put('/v1/queues/u04')).status).toBe(201);
    });
  });
}

function routing(): void {
  describe('queues wire: routing', () => {
    it('A15 an unknown path answers 404 with an empty body', async () => {
      for (const path of ['/v1/nothing/here/at/all', '/v1/queues/a/b/c/d', '/v1/queues/q/unknown', '/v1/queues//stats']) {
        const r = await raw(srv.port, 'GET', path);
        expect(r.status, path).toBe(404);
        expect(r.text).toBe('');
      }
    });

    it('1 a known path with another method -> 405 with Allow and an empty body; no other check runs', async () => {
      const r = await raw(srv.port, 'POST', '/v1/queues/q405', { headers: { accept: 'application/xml' } });
      expect(r.status).toBe(405);
      expect(r.text).toBe('');
      expect(r.headers.allow).toBe('PUT, GET, HEAD, DELETE');
      expect((await raw(srv.port, 'PUT', '/v1/queues/q/claims')).headers.allow).toBe('POST');
      expect((await raw(srv.port, 'POST', '/v1/health')).headers.allow).toBe('GET, HEAD');
      expect((await raw(srv.port, 'PATCH', '/v1/queues/q/messages/m')).headers.allow).toBe('GET, DELETE');
    });

    it('1 OPTIONS on a known path -> 204 with Allow', async () => {
      const r = await raw(srv.port, 'OPTIONS', '/v1/queues/q/claims/c');
      expect(r.status).toBe(204);
      expect(r.headers.allow).toBe('GET, PATCH, DELETE');
      expect((await raw(srv.port, 'OPTIONS', '/v1/queues')).headers.allow).toBe('GET');
    });

    it('1 one trailing slash is ignored', async () => {
      const c = queuesClient(srv.port);
      const r = await c.put('/v1/queues/trailing/');
      expect(r.status).toBe(201);
      expect(r.headers.location).toBe('/v1/queues/trailing');
      expect((await c.get('/v1/queues/trailing/stats/')).status).toBe(200);
      expect((await c.get('/v1/health/')).status).toBe(204);
    });

    it('A7 /v1/{project_id}/... works on that project (overriding X-Project-Id) and hrefs keep the prefix', async () => {
      const c = queuesClient(srv.port, defaultHeaders({ 'x-project-id': 'other' }));
      expect((await c.put('/v1/proj-a7/queues/inpath')).status).toBe(201);
      const viaHeader = queuesClient(srv.port, defaultHeaders({ 'x-project-id': 'proj-a7' }));
      expect((await viaHeader.get('/v1/queues/inpath')).status).toBe(204);
      expect((await c.get('/v1/queues/inpath')).status).toBe(404);
      const post = await c.post('/v1/proj-a7/queues/inpath/messages', [{ ttl: 60, body: { a: 1 } }]);
      expect(post.status).toBe(201);
      expect(post.json.resources[0]).toMatch(/^\/v1\/proj-a7\/queues\/inpath\/messages\/[^/?]+$/);
      const list = await c.get('/v1/proj-a7/queues');
      expect(list.json.queues).toEqual([{ name: 'inpath', href: '/v1/proj-a7/queues/inpath' }]);
      expect(list.json.links[0].href).toBe('/v1/proj-a7/queues?marker=inpath');
    });

    it('/v1.0/... stays the registry API (its own fault body)', async () => {
      const r = await raw(srv.port, 'GET', '/v1.0/t1/nothing');
      expect(r.status).toBe(404);
      expect(r.json.type).toBe('notFoundError');
    });
  });
}

function locationAndContentLocation(): void {
  describe('queues wire: Location and Content-Location through a lifecycle', () => {
    it('U-02 for projects 480924, foo and none: 404s before, PUT 201 Location = path, HEAD 204, metadata, stats, DELETE, 404s after', async () => {
      for (const project of ['480924', 'foo', undefined]) {
        const h = defaultHeaders(project === undefined ? {} : { 'x-project-id': project });
        if (project === undefined) delete h['x-project-id'];
        const p = queuesClient(srv.port, h);
        const q = '/v1/queues/u02-life';
        expect((await p.get(`${q}/stats`)).status, String(project)).toBe(404);
        expect((await p.get(`${q}/metadata`)).status).toBe(404);
        const put = await p.put(q);
        expect(put.status).toBe(201);
        expect(put.headers.location).toBe(q);
        expect((await p.head(q)).status).toBe(204);
        expect((await p.put(`${q}/metadata`, { project: project ?? null })).status).toBe(204);
        expect((await p.get(`${q}/metadata`)).json).toEqual({ project: project ?? null });
        expect((await p.get(`${q}/stats`)).status).toBe(200);
        expect((await p.del(q)).status).toBe(204);
        for (const sub of ['', '/stats', '/metadata']) expect((await p.get(`${q}${sub}`)).status).toBe(404);
      }
    });

    it('U-09 lists: none -> 204; the global namespace lists only global queues; Content-Location = /v1/queues?limit=5', async () => {
      const own = await startQueuesServer();
      try {
        const global = defaultHeaders();
        delete global['x-project-id'];
        const g = queuesClient(own.port, global);
        const p = queuesClient(own.port, defaultHeaders({ 'x-project-id': 'u09' }));
        expect((await g.get('/v1/queues')).status).toBe(204);
        await g.put('/v1/queues/shared-name');
        await p.put('/v1/queues/shared-name');
        await p.put('/v1/queues/project-only');
        const gl = await g.get('/v1/queues?limit=5');
        expect(gl.headers['content-location']).toBe('/v1/queues?limit=5');
        expect(gl.json.queues.map((q: { name: string }) => q.name)).toEqual(['shared-name']);
        expect((await p.get('/v1/queues?limit=5')).json.queues.map((q: { name: string }) => q.name)).toEqual(['project-only', 'shared-name']);
      } finally {
        await own.close();
      }
    });

    it('U-27 GET claim: Content-Location = the claim href; claimed messages listed only with include_claimed', async () => {
      const c = queuesClient(srv.port);
      await queueWith(c, 'u27', 3);
      const claim = await c.post('/v1/queues/u27/claims', { ttl: 100, grace: 60 });
      expect(claim.status).toBe(201);
      const g = await c.get(claim.headers.location as string);
      expect(g.headers['content-location']).toBe(claim.headers.location);
      expect(g.json.ttl).toBe(100);
      const other = queuesClient(srv.port, defaultHeaders());
      expect((await other.get('/v1/queues/u27/messages')).status).toBe(204);
      expect((await other.get('/v1/queues/u27/messages?include_claimed=true')).json.messages).toHaveLength(3);
    });
  });
}

function homeAndHealth(): void {
  describe('queues wire: home and health', () => {
    it('U-12 GET /v1 -> 200 application/json-home, every href-template starts with /v1, rel/queue expands to /v1/queues/foo', async () => {
      const r = await raw(srv.port, 'GET', '/v1', { headers: { accept: 'application/json' } });
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('application/json-home');
      expect(r.headers['cache-control']).toBe('max-age=86400');
      const resources = r.json.resources as Record<string, { 'href-template': string; hints: { allow: string[] } }>;
      expect(Object.keys(resources).sort()).toEqual(
        ['rel/claim', 'rel/messages', 'rel/post-messages', 'rel/queue', 'rel/queue-metadata', 'rel/queue-stats', 'rel/queues'].sort(),
      );
      for (const rel of Object.values(resources)) expect(rel['href-template'].startsWith('/v1')).toBe(true);
      expect(resources['rel/queue']?.['href-template'].replace('{queue_name}', 'foo')).toBe('/v1/queues/foo');
      expect((await raw(srv.port, 'GET', '/v1/')).status).toBe(200);
    });

    it('F-Q13 GET /v1/health -> 204; HEAD -> 204; no body', async () => {
      const g = await raw(srv.port, 'GET', '/v1/health');
      expect(g.status).toBe(204);
      expect(g.text).toBe('');
      expect((await raw(srv.port, 'HEAD', '/v1/health')).status).toBe(204);
    });

    it('F-Q14 / F-Q15 existing queue: GET and HEAD 204 with Content-Location; missing: 404 with an empty body', async () => {
      const c = queuesClient(srv.port);
      await queueWith(c, 'fq14', 0);
      const g = await c.get('/v1/queues/fq14');
      expect(g.status).toBe(204);
      expect(g.headers['content-location']).toBe('/v1/queues/fq14');
      expect((await c.head('/v1/queues/fq14')).status).toBe(204);
      const missing = await c.get('/v1/queues/nonexistingqueue');
      expect(missing.status).toBe(404);
      expect(missing.text).toBe('');
      expect((await c.head('/v1/queues/nonexistingqueue')).status).toBe(404);
    });
  });
}

function authOneAuthFile(): void {
  describe('queues wire: auth (one auth file: a tenant token is valid for the project of the same id)', () => {
    let authed: QueuesTestServer;
    beforeAll(async () => {
      authed = await startQueuesServer({
        auth: createAuthTable([
          { token: 'tok-a', tenant: 'proj-a' },
          { token: 'tok-admin', tenant: '*' },
        ]),
      });
    });
    afterAll(() => authed.close());

    it('F-Q04 PUT queue with X-Auth-Token: invalid -> 401 (before Accept, before names)', async () => {
      const r = await raw(authed.port, 'PUT', '/v1/queues/fq04', { headers: { 'x-auth-token': 'invalid', 'x-project-id': 'proj-a', accept: 'text/xml' } });
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toBeDefined();
      expect(r.text).not.toContain('invalid');
      expect((await raw(authed.port, 'PUT', '/v1/queues/fq04', { headers: { 'x-project-id': 'proj-a' } })).status).toBe(401);
    });

    it('a project token works on its project (header or path form), not on another one nor the global namespace', async () => {
      const h = { 'x-auth-token': 'tok-a' };
      expect((await raw(authed.port, 'PUT', '/v1/queues/mine', { headers: { ...h, 'x-project-id': 'proj-a' } })).status).toBe(201);
      expect((await raw(authed.port, 'GET', '/v1/proj-a/queues/mine', { headers: h })).status).toBe(204);
      expect((await raw(authed.port, 'GET', '/v1/queues/mine', { headers: { ...h, 'x-project-id': 'proj-b' } })).status).toBe(401);
      expect((await raw(authed.port, 'GET', '/v1/proj-b/queues/mine', { headers: { ...h, 'x-project-id': 'proj-a' } })).status).toBe(401);
      expect((await raw(authed.port, 'GET', '/v1/queues', { headers: h })).status).toBe(401);
      expect((await raw(authed.port, 'GET', '/v1/queues', { headers: { 'x-auth-token': 'tok-admin' } })).status).toBe(204);
    });

    it('health and the home document need no token (load balancers probe them)', async () => {
      expect((await raw(authed.port, 'GET', '/v1/health')).status).toBe(204);
      expect((await raw(authed.port, 'GET', '/v1')).status).toBe(200);
    });
  });
}

// Last, so that every constant above is initialized when the suites are collected.
describe.each(['sqlite', 'etcd'] as const)('queues wire on %s', (store) => {
  beforeAll(async () => {
    srv = await startQueuesServer(store === 'etcd' ? { etcdEndpoints: etcd().endpoints } : {});
  });
  afterAll(() => srv.close());
  acceptProjectNames();
  routing();
  locationAndContentLocation();
  homeAndHealth();
  authOneAuthFile();
});
