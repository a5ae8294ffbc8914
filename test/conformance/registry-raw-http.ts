import { describe, expect, it } from 'vitest';
import { rawJson, rawRequest } from '../helpers/raw-http.js';
import {
  expectConfigValueShape,
  expectEventShape,
  expectFaultShape,
  expectJsonHeaders,
  expectLimitsShape,
  expectListShape,
  expectResponseId,
  expectServiceShape,
  expectTokenShape,
} from './fixtures-shapes.js';
import { newTenant, type HarnessRef } from './registry-support.js';

/** fixtures/request/services-post.json */
const FIXTURE_SERVICE = {
  tags: ['db', 'mysql'],
  metadata: { region: 'dfw', port: '3306', ip: '127.0.0.1', version: '5.5.24-0ubuntu0.12.04.1 (Ubuntu)' },
  id: 'dfw1-db1',
  heartbeat_timeout: 30,
};
/** fixtures/request/configuration-configId-put.json */
const FIXTURE_VALUE = { value: 'test value 123456' };

const url = (h: HarnessRef): string => {
  const raw = h().raw;
  if (!raw) throw new Error('raw HTTP checks need a harness with raw.url');
  return raw.url;
};

/** Transport-level lines (M1-M4, C2) and the fixtures' wire shapes, with exact bytes via node:http. */
export function describeRawHttp(h: HarnessRef): void {
  describe('raw HTTP: test-misc.js and transport lines', () => {
    it('M1 an unknown path gives 404 "The page cannot be found"', async () => {
      const res = await rawJson(url(h), 'GET', '/v1.0/7777/random-url');
      expect(res.status).toBe(404);
      expectJsonHeaders(res.headers);
      const f = expectFaultShape(res.json(), 404, { ordered: true });
      expect(f.type).toBe('notFoundError');
      expect(f.message).toContain('The page cannot be found');
      expect(f.details).toEqual({ requested_path: '/v1.0/7777/random-url' });
    });

    it('M2 Content-Type foo/bar gives 400 "Unsupported content type: foo/bar"', async () => {
      const res = await rawRequest(url(h), {
        method: 'POST',
        path: `/v1.0/${newTenant()}/services`,
        headers: { 'Content-Type': 'foo/bar' },
        body: JSON.stringify(FIXTURE_SERVICE),
      });
      expect(res.status).toBe(400);
      expectJsonHeaders(res.headers);
      expect(expectFaultShape(res.json(), 400, { ordered: true }).message).toContain('Unsupported content type: foo/bar');
    });

    it('M3 the body {"a": } gives 400 "Failed to parse request body:"', async () => {
      const res = await rawRequest(url(h), {
        method: 'POST',
        path: `/v1.0/${newTenant()}/services`,
        headers: { 'Content-Type': 'application/json' },
        body: '{"a": }',
      });
      expect(res.status).toBe(400);
      expect(expectFaultShape(res.json(), 400, { ordered: true }).message).toContain('Failed to parse request body:');
    });

    it('M4 a 5001-byte body with no content type gives 413 with an empty body', async () => {
      const t = newTenant();
      const res = await rawRequest(url(h), { method: 'POST', path: `/v1.0/${t}/services`, body: 'x'.repeat(5001) });
      expect(res.status).toBe(413);
      expect(res.text).toBe('');
      expectResponseId(res.headers);
      expect(res.headers.connection).toBe('close');
      // 4999 bytes is the largest accepted body (spec 1.3): it reaches validation instead.
      const padded = JSON.stringify({ ...FIXTURE_SERVICE, pad: '' });
      const body = JSON.stringify({ ...FIXTURE_SERVICE, pad: 'p'.repeat(4999 - padded.length) });
      expect(Buffer.byteLength(body)).toBe(4999);
      const ok = await rawRequest(url(h), { method: 'POST', path: `/v1.0/${t}/services`, body });
      expect(ok.status).toBe(201);
    });

    it('C2 GET /configuration/inexistent-value%80 gives 400 "URI malformed" without details', async () => {
      const res = await rawJson(url(h), 'GET', `/v1.0/${newTenant()}/configuration/inexistent-value%80`);
      expect(res.status).toBe(400);
      expectJsonHeaders(res.headers);
      const f = expectFaultShape(res.json(), 400, { ordered: true, noDetails: true });
      expect(f.type).toBe('badRequest');
      expect(f.message).toMatch(/URI malformed/);
    });
  });

  describeWireShapes(h);
}

function describeWireShapes(h: HarnessRef): void {
  describe('raw HTTP: fixture shapes and headers', () => {
    const t = newTenant();
    const base = `/v1.0/${t}`;

    it('POST /services: 201, JSON content type, Location with the port (AMB-2), {token}', async () => {
      const res = await rawJson(url(h), 'POST', `${base}/services`, FIXTURE_SERVICE);
      expect(res.status).toBe(201);
      expectJsonHeaders(res.headers);
      expect(res.headers.location).toBe(`${url(h)}${base}/services/dfw1-db1`);
      expectTokenShape(res.json(), { ordered: true });
    });

    it('GET /services/{id}: the service in fixture key order, last_seen null before a heartbeat', async () => {
      const res = await rawJson(url(h), 'GET', `${base}/services/dfw1-db1`);
      expect(res.status).toBe(200);
      expectJsonHeaders(res.headers);
      const svc = expectServiceShape(res.json(), { ordered: true });
      expect(svc).toEqual({ ...FIXTURE_SERVICE, last_seen: null });
    });

    it('heartbeat: 200 JSON {token}; last_seen then in ms, not seconds (AMB-21)', async () => {
      const { clock } = h();
      const create = await rawJson(url(h), 'POST', `${base}/services`, { ...FIXTURE_SERVICE, id: 'dfw1-api', tags: [], metadata: {} });
      const token = expectTokenShape(create.json());
      const res = await rawJson(url(h), 'POST', `${base}/services/dfw1-api/heartbeat`, { token });
      expect(res.status).toBe(200);
      expectJsonHeaders(res.headers);
      expect(res.headers.location).toBeUndefined();
      expect(expectTokenShape(res.json(), { ordered: true })).not.toBe(token);
      const svc = expectServiceShape((await rawJson(url(h), 'GET', `${base}/services/dfw1-api`)).json(), { ordered: true });
      expect(svc.last_seen).toBe(clock.now());
    });

    it('GET /services pages: envelope keys in order, next_marker always present (AMB-3), next_href keeps the query', async () => {
      const page1 = await rawJson(url(h), 'GET', `${base}/services?limit=1`);
      expect(page1.status).toBe(200);
      expectJsonHeaders(page1.headers);
      const p1 = expectListShape(page1.json(), expectServiceShape, { ordered: true, linked: true });
      expect(p1.metadata).toEqual({
        count: 1,
        limit: 1,
        marker: null,
        next_marker: 'dfw1-db1',
        next_href: `${url(h)}${base}/services?limit=1&marker=dfw1-db1`,
      });
      const page2 = await rawJson(url(h), 'GET', `${base}/services?marker=dfw1-db1`);
      const p2 = expectListShape(page2.json(), expectServiceShape, { ordered: true, linked: true });
      expect(p2.metadata).toEqual({ count: 1, limit: 100, marker: 'dfw1-db1', next_marker: null, next_href: null });
      const tagged = expectListShape((await rawJson(url(h), 'GET', `${base}/services?tag=db`)).json(), expectServiceShape, { ordered: true });
      expect(tagged.values.map((s) => (s as { id: string }).id)).toEqual(['dfw1-db1']);
      const slash = await rawJson(url(h), 'GET', `${base}/services/`);
      expect(slash.status).toBe(200);
      expect(expectListShape(slash.json(), expectServiceShape).values).toHaveLength(2);
    });

    it('PUT /services/{id}: 204 with Location; DELETE: 204 without Location', async () => {
      const put = await rawJson(url(h), 'PUT', `${base}/services/dfw1-api`, { tags: ['api'] });
      expect(put.status).toBe(204);
      expect(put.text).toBe('');
      expectResponseId(put.headers);
      expect(put.headers.location).toBe(`${url(h)}${base}/services/dfw1-api`);
      const del = await rawJson(url(h), 'DELETE', `${base}/services/dfw1-api`);
      expect(del.status).toBe(204);
      expect(del.text).toBe('');
      expectResponseId(del.headers);
      expect(del.headers.location).toBeUndefined();
    });

    it('configuration: PUT 204 with a double-slash Location; value and lists in fixture shape', async () => {
      for (const id of ['/api/key-1', '/api/key-2']) {
        const put = await rawJson(url(h), 'PUT', `${base}/configuration/${id}`, FIXTURE_VALUE);
        expect(put.status).toBe(204);
        expect(put.text).toBe('');
        expect(put.headers.location).toBe(`${url(h)}${base}/configuration/${id}`);
      }
      const one = await rawJson(url(h), 'GET', `${base}/configuration//api/key-1`);
      expect(one.status).toBe(200);
      expectJsonHeaders(one.headers);
      expect(expectConfigValueShape(one.json(), { ordered: true })).toEqual({ id: '/api/key-1', value: FIXTURE_VALUE.value });
      const ns = await rawJson(url(h), 'GET', `${base}/configuration/api/`);
      const list = expectListShape(ns.json(), expectConfigValueShape, { ordered: true, linked: true });
      expect(list.values.map((v) => (v as { id: string }).id)).toEqual(['/api/key-1', '/api/key-2']);
      expect(list.metadata).toEqual({ count: 2, limit: 100, marker: null, next_marker: null, next_href: null });
    });

    it('GET /events: events in fixture key order, payloads per type', async () => {
      const res = await rawJson(url(h), 'GET', `${base}/events`);
      expect(res.status).toBe(200);
      expectJsonHeaders(res.headers);
      const list = expectListShape(res.json(), expectEventShape, { ordered: true, linked: true });
      expect(list.values.map((e) => (e as { type: string }).type)).toEqual([
        'service.join',
        'service.join',
        'service.remove',
        'configuration_value.update',
        'configuration_value.update',
      ]);
      const limited = expectListShape((await rawJson(url(h), 'GET', `${base}/events?limit=2&type=service.join`)).json(), expectEventShape, {
        ordered: true,
        linked: true,
      });
      expect(limited.values).toHaveLength(2);
      expect(limited.metadata.next_marker).toBeNull();
    });

    it('a fault: the fixture not-found body, with txnId equal to X-Response-Id', async () => {
      const res = await rawJson(url(h), 'GET', `${base}/services/my-service-1`);
      expect(res.status).toBe(404);
      const responseId = expectResponseId(res.headers);
      expectJsonHeaders(res.headers);
      const f = expectFaultShape(res.json(), 404, { ordered: true });
      expect(f).toEqual({
        type: 'notFoundError',
        code: 404,
        message: 'object does not exist',
        details: 'Object "Service" with key "my-service-1" does not exist',
        txnId: responseId,
      });
    });

    it('GET /limits without a Content-Type (the Python client) answers the limits shape', async () => {
      const res = await rawRequest(url(h), { method: 'GET', path: `${base}/limits`, headers: { 'X-Auth-Token': 'conformance-token' } });
      expect(res.status).toBe(200);
      expectJsonHeaders(res.headers);
      const limits = expectLimitsShape(res.json(), { ordered: true });
      expect(limits.resource).toMatchObject({ service: 200, configuration_value: 1000 });
      expect(limits.rate).toMatchObject({ '/.*': { limit: 500000, window: '24.0 hours' } });
    });
  });
}
