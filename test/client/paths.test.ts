import { describe, expect, it } from 'vitest';
import { configListPath, configPath, itemPath, parseRoot, parseTenantUrl, query, tenantPath } from '../../src/client/paths.js';
import { hasCode } from '../../src/lib/errors.js';

describe('parseRoot', () => {
  it('accepts the root with or without /v1.0 and trailing slashes', () => {
    for (const u of ['http://h:1', 'http://h:1/', 'http://h:1/v1.0', 'http://h:1/v1.0/']) {
      expect(parseRoot(u)).toEqual({ origin: 'http://h:1', basePath: '' });
    }
    expect(parseRoot('https://h/mount/v1.0')).toEqual({ origin: 'https://h', basePath: '/mount' });
  });

  it('rejects credentials, queries and other schemes without echoing secrets', () => {
    for (const u of ['http://user:s3cret@h:1', 'http://h:1/?x-auth-token=s3cret', 'ftp://h', 'not a url']) {
      let err: unknown;
      try {
        parseRoot(u);
      } catch (e) {
        err = e;
      }
      expect(hasCode(err, 'client.invalidUrl')).toBe(true);
      expect(String((err as Error).message)).not.toContain('s3cret');
    }
  });
});

describe('parseTenantUrl', () => {
  it('takes the tenant from the segment after /v1.0', () => {
    expect(parseTenantUrl('http://127.0.0.1:8470/v1.0/1234')).toEqual({ root: { origin: 'http://127.0.0.1:8470', basePath: '' }, tenant: '1234' });
    expect(parseTenantUrl('http://h/x/v1.0/acme/')).toEqual({ root: { origin: 'http://h', basePath: '/x' }, tenant: 'acme' });
  });

  it('rejects a URL without a tenant', () => {
    expect(() => parseTenantUrl('http://h/v1.0')).toThrow(/v1.0\/<tenant>/);
    expect(() => parseTenantUrl('http://h/v1.0/a/services')).toThrow(/v1.0\/<tenant>/);
  });
});

describe('paths', () => {
  it('uses the double-slash form for namespaced configuration ids and keeps slashes', () => {
    expect(configPath('/production/cassandra/listen_ip')).toBe('/configuration//production/cassandra/listen_ip');
    expect(configPath('my-value.1')).toBe('/configuration/my-value.1');
    expect(configPath('a b/%')).toBe('/configuration/a%20b/%25');
  });

  it('lists a namespace with the single-slash form and a trailing slash', () => {
    expect(configListPath(undefined)).toBe('/configuration');
    expect(configListPath('/')).toBe('/configuration');
    expect(configListPath('/production/cassandra')).toBe('/configuration/production/cassandra/');
    expect(configListPath('production/')).toBe('/configuration/production/');
  });

  it('encodes ids and tenants as one segment', () => {
    expect(itemPath('services', 'a/b?c')).toBe('/services/a%2Fb%3Fc');
    expect(tenantPath({ origin: 'http://h', basePath: '/m' }, 'ten ant')).toBe('/m/v1.0/ten%20ant');
  });

  it('builds queries from defined values, repeating arrays', () => {
    expect(query({ a: undefined, b: null })).toBe('');
    expect(query({ marker: '/x y', limit: 5, type: ['a', 'b'] })).toBe('?marker=%2Fx+y&limit=5&type=a&type=b');
  });
});
