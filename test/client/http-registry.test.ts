import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { TetherError, hasCode } from '../../src/lib/errors.js';
import { RegistryFault } from '../../src/registry/faults.js';
import { createAuthTable } from '../../src/server/index.js';
import { freshTenant, startRegistry, startStub, type RunningRegistry } from './registry-server.js';

/** The rejection of `p`, which must reject. */
async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('HttpRegistry against a real registry', () => {
  let reg: RunningRegistry;
  let http: HttpRegistry;

  beforeAll(async () => {
    reg = await startRegistry();
    http = new HttpRegistry({ url: `${reg.url}/v1.0/`, token: 'any' });
  });
  afterAll(async () => {
    await http.close();
    await reg.close();
  });

  it('creates, reads, updates, heartbeats and deletes a service', async () => {
    const t = freshTenant();
    const { token } = await http.createService(t, { id: 'web.1', heartbeat_timeout: 30, tags: ['web'], metadata: { port: '80' } });
    expect(token).toMatch(/^[0-9a-f-]{36}$/);
    await http.updateService(t, 'web.1', { tags: ['web', 'v2'] });
    const next = await http.heartbeatService(t, 'web.1', { token });
    expect(next.token).not.toBe(token);
    const svc = await http.getService(t, 'web.1');
    expect(svc).toMatchObject({ id: 'web.1', tags: ['web', 'v2'], metadata: { port: '80' }, heartbeat_timeout: 30 });
    expect(svc.last_seen).toEqual(expect.any(Number));
    await http.deleteService(t, 'web.1');
    expect((await http.listServices(t)).values).toEqual([]);
  });

  it('addresses namespaced configuration ids (double slash) and lists namespaces', async () => {
    const t = freshTenant();
    await http.setConfig(t, '/production/cassandra', { value: 'root' });
    await http.setConfig(t, '/production/cassandra/listen_ip', { value: '10.0.0.1' });
    await http.setConfig(t, '/production/cassandra2/other', { value: 'x' });
    await http.setConfig(t, 'plain.key', { value: 'v' });
    expect(await http.getConfig(t, '/production/cassandra/listen_ip')).toEqual({ id: '/production/cassandra/listen_ip', value: '10.0.0.1' });
    const ns = await http.listConfig(t, { namespace: '/production/cassandra' });
    expect(ns.values.map((v) => v.id)).toEqual(['/production/cassandra', '/production/cassandra/listen_ip']);
    const all = await http.listConfig(t, { limit: 2 });
    expect(all.values).toHaveLength(2);
    expect(all.metadata.next_marker).toBe('/production/cassandra2/other');
    expect(all.metadata.next_href).toContain('limit=2');
    await http.deleteConfig(t, '/production/cassandra');
    expect(await failure(http.getConfig(t, '/production/cassandra'))).toMatchObject({ type: 'notFoundError', status: 404 });
  });

  it('reconstructs faults with type, status, message, details and txnId', async () => {
    const t = freshTenant();
    const notFound = await failure(http.getService(t, 'nonExistentService'));
    expect(notFound).toBeInstanceOf(RegistryFault);
    expect(notFound).toMatchObject({
      type: 'notFoundError',
      status: 404,
      code: 'registry.notFoundError',
      message: 'object does not exist',
      details: 'Object "Service" with key "nonExistentService" does not exist',
      txnId: expect.any(String),
    });
    const invalid = await failure(http.createService(t, { id: 'a', heartbeat_timeout: 3 }));
    expect(invalid).toMatchObject({ type: 'badRequest', status: 400, message: "Validation error for key 'id'", details: 'String is not in range (3..65)' });
    await http.createService(t, { id: 'dup-1', heartbeat_timeout: 30 });
    expect(await failure(http.createService(t, { id: 'dup-1', heartbeat_timeout: 30 }))).toMatchObject({ type: 'serviceWithThisIdExists', status: 400 });
    expect(await failure(http.listEvents(t, { marker: '0' }))).toMatchObject({ type: 'badRequest', details: 'Invalid UUID' });
    expect(await failure(http.listServices(t, { limit: 0 }))).toMatchObject({ type: 'invalidLimit' });
  });

  it('maps the bare 413 to requestTooLargeError', async () => {
    const err = await failure(http.setConfig(freshTenant(), 'big-value', { value: 'x'.repeat(6000) }));
    expect(err).toMatchObject({ type: 'requestTooLargeError', status: 413, message: 'Request Entity Too Large', details: undefined });
  });

  it('returns the session id and token, and the page with next_href', async () => {
    const t = freshTenant();
    const s = await http.createSession(t, { heartbeat_timeout: 30 });
    expect(s).toEqual({ id: expect.any(String), token: expect.any(String) });
    expect((await http.getSession(t, s.id)).id).toBe(s.id);
    const bound = await http.createService(t, { id: 'bound-1', session_id: s.id });
    expect(bound.token).toBeNull();
    await http.createService(t, { id: 'free-1', heartbeat_timeout: 30 });
    const page = await http.listServices(t, { limit: 1 });
    expect(page.metadata).toMatchObject({ count: 1, limit: 1, next_marker: 'free-1' });
    expect(page.metadata.next_href).toMatch(/\/services\?limit=1&marker=free-1$/);
    expect((await http.heartbeatSession(t, s.id, { token: s.token })).token).not.toBe(s.token);
  });

  it('long-polls events: a waiting listEvents returns as soon as an event is committed', async () => {
    const t = freshTenant();
    await http.getLimits(t); // creates the account
    const started = Date.now();
    const poll = http.listEvents(t, { wait: 20 });
    setTimeout(() => void http.setConfig(t, 'woken', { value: '1' }), 200);
    const page = await poll;
    expect(page.values.map((e) => e.type)).toEqual(['configuration_value.update']);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('rejects with the signal reason on abort', async () => {
    const t = freshTenant();
    await http.getLimits(t);
    const ac = new AbortController();
    const poll = http.listEvents(t, { wait: 20 }, ac.signal);
    setTimeout(() => ac.abort(new Error('enough')), 100);
    expect(await failure(poll)).toMatchObject({ message: 'enough' });
    const pre = new AbortController();
    pre.abort(new Error('before'));
    expect(await failure(http.getLimits(t, pre.signal))).toMatchObject({ message: 'before' });
  });
});

describe('HttpRegistry transport failures', () => {
  it('sends X-Auth-Token: a missing or wrong token is a 401 fault', async () => {
    const reg = await startRegistry({ auth: createAuthTable([{ token: 'good-token', tenant: '*' }]) });
    const none = new HttpRegistry({ url: reg.url });
    const bad = new HttpRegistry({ url: reg.url, token: 'wrong' });
    const good = new HttpRegistry({ url: reg.url, token: 'good-token' });
    try {
      expect(await failure(none.getLimits('1234'))).toMatchObject({ type: 'unauthorizedError', status: 401, details: 'No authentication token provided' });
      expect(await failure(bad.getLimits('1234'))).toMatchObject({ type: 'unauthorizedError', details: 'Invalid or expired authentication token' });
      expect((await good.getLimits('1234')).resource.service).toBe(200);
    } finally {
      await Promise.all([none.close(), bad.close(), good.close()]);
      await reg.close();
    }
  });

  it('maps non-JSON 5xx replies to internalError / systemFailureError', async () => {
    const stub = await startStub((req, res) => {
      res.writeHead(req.url?.includes('limits') ? 502 : 503, { 'content-type': 'text/html' }).end('<h1>proxy</h1>');
    });
    const http = new HttpRegistry({ url: stub.url });
    try {
      expect(await failure(http.getLimits('1'))).toMatchObject({ type: 'internalError', status: 500 });
      expect(await failure(http.listServices('1'))).toMatchObject({ type: 'systemFailureError', status: 503 });
    } finally {
      await http.close();
      await stub.close();
    }
  });

  it('reports an unreachable registry as client.unreachable, without the token', async () => {
    const stub = await startStub(() => undefined);
    const url = stub.url;
    await stub.close(); // nothing listens there any more
    const http = new HttpRegistry({ url, token: 'secret-token-123' });
    try {
      const err = await failure(http.getLimits('1'));
      expect(err).toBeInstanceOf(TetherError);
      expect(hasCode(err, 'client.unreachable')).toBe(true);
      expect((err as Error).cause).toBeDefined();
      expect((err as Error).message).not.toContain('secret-token-123');
    } finally {
      await http.close();
    }
  });

  it('times out a request that gets no reply, and refuses calls after close()', async () => {
    const stub = await startStub(() => undefined); // never answers
    const http = new HttpRegistry({ url: stub.url, timeoutMs: 200 });
    try {
      const err = await failure(http.getLimits('1'));
      expect(hasCode(err, 'client.timeout')).toBe(true);
    } finally {
      await http.destroy();
      await stub.close();
    }
    expect(hasCode(await failure(http.getLimits('1')), 'client.closed')).toBe(true);
  });
});
