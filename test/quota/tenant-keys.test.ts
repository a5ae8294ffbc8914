import { describe, expect, it } from 'vitest';
import { queueKeys, messageKey } from '../../src/queues/keys.js';
import { keys } from '../../src/registry/keys.js';
import { routeKeys } from '../../src/routes/keys.js';
import { parseBytes } from '../../src/server/quota/open-quota.js';
import { ownerOf, tenantAnchor, tenantOfNs } from '../../src/server/quota/tenant-keys.js';

describe('which tenant a store key belongs to', () => {
  it('names registry tenants and queue projects alike, and counts values, messages and queue metadata only', () => {
    const q = queueKeys('acme.prod', 'jobs');
    const ns = ownerOf(keys.account('acme.prod'))?.ns as string;
    expect(tenantOfNs(ns)).toBe('acme.prod');
    expect(ownerOf(keys.config('acme.prod', '/app/level'))).toEqual({ ns, counted: true });
    expect(ownerOf(keys.service('acme.prod', 'svc'))).toEqual({ ns, counted: false });
    // Heartbeat state is lease-bound and bounded by the service limit: no tenant's bytes, never counted.
    expect(ownerOf(keys.beat('acme.prod', 'svc'))).toBeNull();
    expect(ownerOf(keys.event('acme.prod', '6bc8d050-f86a-11e1-a89e-ca2ffe480b20'))).toEqual({ ns, counted: false });
    expect(ownerOf(routeKeys.route('acme.prod', 'r1'))).toEqual({ ns, counted: false });
    expect(ownerOf(q.record)).toEqual({ ns, counted: true });
    expect(ownerOf(messageKey(q, 7))).toEqual({ ns, counted: true });
    expect(ownerOf(`${q.claims}abc`)).toEqual({ ns, counted: false });
    expect(ownerOf(q.counter)).toEqual({ ns, counted: false });
    expect(ownerOf(messageKey(queueKeys(null, 'jobs'), 1))).toEqual({ ns: 'g', counted: true });
    expect(ownerOf('x/unknown')).toBeNull();
  });

  it('makes a tenant count by its last event, sessions, routes and queues; not by its account, services, beats or values', () => {
    for (const key of [keys.lastEvent('t1'), keys.session('t1', 's1'), routeKeys.route('t1', 'r1'), queueKeys('t1', 'jobs').record]) expect(tenantAnchor(key), key).toBe(true);
    for (const key of [keys.account('t1'), keys.service('t1', 's1'), keys.sessionBeat('t1', 's1'), keys.config('t1', 'l'), keys.unmarkedSecrets('t1'), 't/l']) {
      expect(tenantAnchor(key), key).toBe(false);
    }
  });
});

describe('--tenant-quota-bytes and --max-db-bytes sizes', () => {
  it('takes bytes and binary units, refuses zero, fractions and unknown units', () => {
    expect(parseBytes('f', '65536')).toBe(65536);
    expect(parseBytes('f', '64K')).toBe(65536);
    expect(parseBytes('f', '10MB')).toBe(10 * 1024 * 1024);
    expect(parseBytes('f', '2GiB')).toBe(2 * 1024 ** 3);
    expect(parseBytes('f', undefined)).toBeUndefined();
    for (const bad of ['0', '1.5M', '10XB', '', '-1', 'M']) expect(() => parseBytes('f', bad), bad).toThrow(/--f must be a positive size/);
  });
});
