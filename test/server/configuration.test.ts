import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, raw, startServer, type TestServer } from './helpers.js';

/** Configuration addressing over HTTP (spec 8.2, checklist C*). */

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s.close();
});

const JSON_CT = { 'content-type': 'application/json' };
const ids = (r: { json: { values: Array<{ id: string }> } }) => r.json.values.map((v) => v.id);

const KEYS = [
  '/production/cassandra',
  '/production/cassandra/listen_ip',
  '/production/cassandra/listen_port',
  '/production/agent_endpoint/fb303.port',
  '/production/zookeeper/one/two',
  'no-namespace',
];

describe('configuration', () => {
  beforeAll(async () => {
    const c = api(s.port, 'cfg');
    for (const k of KEYS) {
      const r = await raw(s.port, 'PUT', `/v1.0/cfg/configuration/${k}`, { headers: JSON_CT, body: JSON.stringify({ value: `v:${k}` }) });
      expect(r.status, k).toBe(204);
    }
    expect(ids(await c.get('/configuration'))).toHaveLength(KEYS.length);
  });

  it('sends Location with a double slash for namespaced ids (also when PUT used a single slash)', async () => {
    const one = await raw(s.port, 'PUT', '/v1.0/cfg/configuration//production/xyz/loc_key', { headers: JSON_CT, body: '{"value":"a"}' });
    expect(one.status).toBe(204);
    expect(one.headers.location).toBe(`http://127.0.0.1:${s.port}/v1.0/cfg/configuration//production/xyz/loc_key`);
    const single = await raw(s.port, 'PUT', '/v1.0/cfg/configuration/production/xyz/loc_key', { headers: JSON_CT, body: '{"value":"b"}' });
    expect(single.headers.location).toBe(`http://127.0.0.1:${s.port}/v1.0/cfg/configuration//production/xyz/loc_key`);
    const plain = await raw(s.port, 'PUT', '/v1.0/cfg/configuration/cvfoobarcvfoo', { headers: JSON_CT, body: '{"value":"c"}' });
    expect(plain.headers.location!.split('/')[6]).toBe('cvfoobarcvfoo'); // C13
    for (const p of ['/v1.0/cfg/configuration//production/xyz/loc_key', '/v1.0/cfg/configuration/cvfoobarcvfoo']) {
      const d = await raw(s.port, 'DELETE', p, { headers: JSON_CT });
      expect(d.status).toBe(204);
      expect(d.headers.location).toBeUndefined();
    }
  });

  it('lists everything with and without the trailing slash', async () => {
    const a = await raw(s.port, 'GET', '/v1.0/cfg/configuration', { headers: JSON_CT });
    const b = await raw(s.port, 'GET', '/v1.0/cfg/configuration/', { headers: JSON_CT });
    expect(ids(a)).toEqual([...KEYS].sort());
    expect(ids(b)).toEqual(ids(a));
  });

  it('lists a namespace with a trailing slash (single or double leading slash), C15', async () => {
    for (const p of ['/v1.0/cfg/configuration/production/cassandra/', '/v1.0/cfg/configuration//production/cassandra/']) {
      expect(ids(await raw(s.port, 'GET', p, { headers: JSON_CT }))).toEqual([
        '/production/cassandra',
        '/production/cassandra/listen_ip',
        '/production/cassandra/listen_port',
      ]);
    }
    expect(ids(await raw(s.port, 'GET', '/v1.0/cfg/configuration/production/', { headers: JSON_CT }))).toHaveLength(5);
    expect(ids(await raw(s.port, 'GET', '/v1.0/cfg/configuration/unknown-ns/', { headers: JSON_CT }))).toEqual([]);
  });

  it('reads single keys via the double slash and the single slash form (C16, C18)', async () => {
    for (const p of ['/v1.0/cfg/configuration//production/cassandra/listen_ip', '/v1.0/cfg/configuration/production/cassandra/listen_ip']) {
      const r = await raw(s.port, 'GET', p, { headers: JSON_CT });
      expect(r.status, p).toBe(200);
      expect(r.json).toEqual({ id: '/production/cassandra/listen_ip', value: 'v:/production/cassandra/listen_ip' });
    }
    expect((await raw(s.port, 'GET', '/v1.0/cfg/configuration//production/cassandra', { headers: JSON_CT })).json.value).toBe('v:/production/cassandra');
    const ns = await raw(s.port, 'GET', '/v1.0/cfg/configuration//production/zookeeper', { headers: JSON_CT });
    expect(ns.status).toBe(404);
    expect(ns.json.details).toBe('Object "ConfigurationValue" with key "/production/zookeeper" does not exist');
    expect((await raw(s.port, 'DELETE', '/v1.0/cfg/configuration//production/zookeeper', { headers: JSON_CT })).status).toBe(404);
    expect((await raw(s.port, 'GET', '/v1.0/cfg/configuration/no-namespace', { headers: JSON_CT })).json.value).toBe('v:no-namespace');
    expect((await raw(s.port, 'GET', '/v1.0/cfg/configuration/no-names', { headers: JSON_CT })).status).toBe(404); // C8
  });

  it('rejects bad ids and trailing-slash writes with 400 (C4, C17)', async () => {
    const bad = "Invalid value for 'configurationId' query string parameter";
    expect((await raw(s.port, 'GET', '/v1.0/cfg/configuration/ab', { headers: JSON_CT })).json.message).toBe(bad);
    for (const p of ['//production.foo/test', '//production/test.x/', '//', '/production/test.x/']) {
      const r = await raw(s.port, 'PUT', `/v1.0/cfg/configuration${p}`, { headers: JSON_CT, body: '{"value":"x"}' });
      expect(r.status, p).toBe(400);
      expect(r.json.message).toBe(bad);
    }
    const d = await raw(s.port, 'DELETE', '/v1.0/cfg/configuration//production/cassandra/', { headers: JSON_CT });
    expect(d.status).toBe(400);
    expect(ids(await raw(s.port, 'GET', '/v1.0/cfg/configuration', { headers: JSON_CT }))).toHaveLength(KEYS.length);
  });

  it('paginates a namespace with next_href on the same path (C19)', async () => {
    const p1 = await raw(s.port, 'GET', '/v1.0/cfg/configuration/production/cassandra/?limit=1', { headers: JSON_CT });
    expect(p1.json.metadata.next_marker).toBe('/production/cassandra/listen_ip');
    expect(p1.json.metadata.next_href).toBe(
      `http://127.0.0.1:${s.port}/v1.0/cfg/configuration/production/cassandra/?limit=1&marker=/production/cassandra/listen_ip`,
    );
    const href = new URL(p1.json.metadata.next_href as string);
    const p2 = await raw(s.port, 'GET', `${href.pathname}?marker=${encodeURIComponent('/production/cassandra/listen_ip')}`, { headers: JSON_CT });
    expect(ids(p2)).toEqual(['/production/cassandra/listen_ip', '/production/cassandra/listen_port']);
    expect(p2.json.metadata.next_marker).toBeNull();
    const p3 = await raw(s.port, 'GET', href.pathname + href.search, { headers: JSON_CT });
    expect(ids(p3)).toEqual(['/production/cassandra/listen_ip']);
  });
});
