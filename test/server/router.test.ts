import { describe, expect, it } from 'vitest';
import { RegistryFault } from '../../src/registry/faults.js';
import { matchRoute } from '../../src/server/router.js';

const r = (method: string, path: string) => {
  const m = matchRoute(method, path);
  return m === null ? null : { name: m.name, tenant: m.tenant, id: m.id, namespace: m.namespace };
};

describe('matchRoute', () => {
  it('matches every resource route under /v1.0/{t}', () => {
    expect(r('GET', '/v1.0/7777/limits')).toEqual({ name: 'limits.get', tenant: '7777', id: '', namespace: undefined });
    expect(r('GET', '/v1.0/7777/services')?.name).toBe('services.list');
    expect(r('POST', '/v1.0/7777/services')?.name).toBe('services.create');
    expect(r('GET', '/v1.0/7777/services/dfw1-db1')).toMatchObject({ name: 'services.get', id: 'dfw1-db1' });
    expect(r('PUT', '/v1.0/7777/services/dfw1-db1')?.name).toBe('services.update');
    expect(r('DELETE', '/v1.0/7777/services/dfw1-db1')?.name).toBe('services.delete');
    expect(r('POST', '/v1.0/7777/services/dfw1-db1/heartbeat')).toMatchObject({ name: 'services.heartbeat', id: 'dfw1-db1' });
    expect(r('GET', '/v1.0/7777/events')?.name).toBe('events.list');
    expect(r('POST', '/v1.0/7777/sessions')?.name).toBe('sessions.create');
    expect(r('GET', '/v1.0/7777/sessions')?.name).toBe('sessions.list');
    expect(r('PUT', '/v1.0/7777/sessions/seAbc')).toMatchObject({ name: 'sessions.update', id: 'seAbc' });
    expect(r('DELETE', '/v1.0/7777/sessions/seAbc')?.name).toBe('sessions.delete');
    expect(r('POST', '/v1.0/7777/sessions/seAbc/heartbeat')?.name).toBe('sessions.heartbeat');
    expect(r('GET', '/v1.0/my_tenant.A-1/limits')?.tenant).toBe('my_tenant.A-1');
  });

  it('ignores one trailing slash outside configuration', () => {
    expect(r('GET', '/v1.0/7777/services/')?.name).toBe('services.list');
    expect(r('GET', '/v1.0/7777/services/abc/')?.name).toBe('services.get');
    expect(r('POST', '/v1.0/7777/services/abc/heartbeat/')?.name).toBe('services.heartbeat');
    expect(r('GET', '/v1.0/7777/limits/')?.name).toBe('limits.get');
    expect(r('GET', '/v1.0/7777/services//')).toBeNull();
    expect(r('POST', '/v1.0/7777/services//heartbeat')).toBeNull();
  });

  it('gives no match for unknown paths and methods (never 405)', () => {
    for (const [m, p] of [
      ['GET', '/v1.0/7777/random-url'],
      ['GET', '/'],
      ['GET', '/v1.0'],
      ['GET', '/v1.0/7777'],
      ['GET', '/v1.0/7777/'],
      ['GET', '/v2.0/7777/services'],
      ['GET', '/v1.0/bad!tenant/services'],
      ['DELETE', '/v1.0/7777/services'],
      ['POST', '/v1.0/7777/limits'],
      ['GET', '/v1.0/7777/services/abc/heartbeat'],
      ['PATCH', '/v1.0/7777/services/abc'],
      ['HEAD', '/v1.0/7777/services'],
      ['POST', '/v1.0/7777/configuration'],
      ['PUT', '/v1.0/7777/configuration/'],
      ['POST', '/v1.0/7777/configuration/abc'],
      ['GET', '/v1.0/7777/services/a/b/c'],
    ] as const) {
      expect(r(m, p), `${m} ${p}`).toBeNull();
    }
  });

  it('applies the configuration addressing rules of spec 8.2', () => {
    const all = { name: 'config.list', namespace: undefined };
    expect(r('GET', '/v1.0/7/configuration')).toMatchObject(all);
    expect(r('GET', '/v1.0/7/configuration/')).toMatchObject(all);
    expect(r('GET', '/v1.0/7/configuration//')).toMatchObject(all);
    expect(r('GET', '/v1.0/7/configuration/production/cassandra/')).toMatchObject({ name: 'config.list', namespace: '/production/cassandra' });
    expect(r('GET', '/v1.0/7/configuration//production/cassandra/')).toMatchObject({ name: 'config.list', namespace: '/production/cassandra' });
    expect(r('GET', '/v1.0/7/configuration/api/')).toMatchObject({ name: 'config.list', namespace: '/api' });
    // single keys: double slash kept, single slash gets its leading slash, plain keys as they are
    expect(r('GET', '/v1.0/7/configuration//production/cassandra/listen_ip')).toMatchObject({ name: 'config.get', id: '/production/cassandra/listen_ip' });
    expect(r('GET', '/v1.0/7/configuration/production/cassandra/listen_ip')).toMatchObject({ name: 'config.get', id: '/production/cassandra/listen_ip' });
    expect(r('PUT', '/v1.0/7/configuration/my-value-1')).toMatchObject({ name: 'config.set', id: 'my-value-1' });
    expect(r('DELETE', '/v1.0/7/configuration//a//b')).toMatchObject({ name: 'config.delete', id: '/a//b' });
    // PUT/DELETE with a trailing slash reach the registry, which rejects the id (AMB-10)
    expect(r('PUT', '/v1.0/7/configuration//production/test.x/')).toMatchObject({ name: 'config.set', id: '/production/test.x/' });
    expect(r('PUT', '/v1.0/7/configuration//')).toMatchObject({ name: 'config.set', id: '/' });
    expect(r('DELETE', '/v1.0/7/configuration/abc/')).toMatchObject({ name: 'config.delete', id: '/abc/' });
    // %2F decodes inside a segment
    expect(r('GET', '/v1.0/7/configuration/%2Fproduction%2Fx')).toMatchObject({ name: 'config.get', id: '/production/x' });
  });

  it('throws URI malformed on a bad escape anywhere, before matching', () => {
    for (const p of ['/v1.0/7/configuration/inexistent-value%80', '/v1.0/7/nothing%E2%82', '/%zz']) {
      let err: unknown;
      try {
        matchRoute('GET', p);
      } catch (e) {
        err = e;
      }
      expect(err, p).toBeInstanceOf(RegistryFault);
      expect((err as RegistryFault).message).toBe('URI malformed');
      expect((err as RegistryFault).details).toBeUndefined();
    }
  });
});
