import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/client.js';
import { hasCode } from '../../src/lib/errors.js';
import { freshTenant, startRegistry, type RunningRegistry } from './registry-server.js';

describe('Client', () => {
  let reg: RunningRegistry;

  beforeAll(async () => {
    reg = await startRegistry({ service: { reaperGraceMs: 0, reaperIntervalMs: 200 } });
  });
  afterAll(async () => {
    await reg.close();
  });

  it('parses the tenant from the URL and calls the tenant-free API', async () => {
    const tenant = freshTenant();
    const client = new Client({ url: `${reg.url}/v1.0/${tenant}` });
    try {
      expect(client.tenant).toBe(tenant);
      const { token } = await client.services.create({ id: 'api-1', heartbeat_timeout: 30, tags: ['api'] });
      expect((await client.services.heartbeat('api-1', token as string)).token).toHaveLength(36);
      await client.services.update('api-1', { metadata: { a: 'b' } });
      expect(await client.services.get('api-1')).toMatchObject({ metadata: { a: 'b' }, tags: ['api'] });
      await client.configuration.set('/prod/database/hostname', 'db1');
      expect((await client.configuration.get('/prod/database/hostname')).value).toBe('db1');
      expect((await client.configuration.list({ namespace: '/prod' })).values).toHaveLength(1);
      expect((await client.events.list()).values.map((e) => e.type)).toEqual(['service.join', 'configuration_value.update']);
      expect((await client.limits()).resource.configuration_value).toBe(1000);
      const s = await client.sessions.create({ heartbeat_timeout: 10 });
      expect((await client.sessions.list()).values.map((x) => x.id)).toEqual([s.id]);
      await client.services.delete('api-1');
      await client.configuration.delete('/prod/database/hostname');
    } finally {
      await client.close();
    }
  });

  it('pages through everything with listAll', async () => {
    const client = new Client({ url: `${reg.url}/v1.0/${freshTenant()}` });
    try {
      for (let i = 0; i < 5; i++) await client.configuration.set(`key-${i}`, `v${i}`);
      const page = await client.configuration.list({ limit: 2 });
      expect(page.metadata.next_marker).toBe('key-2');
      const all = await client.configuration.listAll({ limit: 2 });
      expect(all.map((v) => v.id)).toEqual(['key-0', 'key-1', 'key-2', 'key-3', 'key-4']);
      const events = await client.events.listAll({ limit: 2 });
      expect(events).toHaveLength(5);
    } finally {
      await client.close();
    }
  });

  it('register() retries while the id is taken, until the old instance times out (S21)', async () => {
    const client = new Client({ url: `${reg.url}/v1.0/${freshTenant()}` });
    try {
      await client.services.create({ id: 'quick-death', heartbeat_timeout: 3 });
      const started = Date.now();
      await client.register({ id: 'quick-death', heartbeat_timeout: 10, tags: ['srv2'] }, { intervalMs: 250, retries: 40 });
      expect(Date.now() - started).toBeGreaterThan(2000);
      expect((await client.services.get('quick-death')).tags).toEqual(['srv2']);
      const err = await client.register({ id: 'quick-death', heartbeat_timeout: 10 }, { intervalMs: 10, retries: 2 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ type: 'serviceWithThisIdExists' });
    } finally {
      await client.close();
    }
  });

  it('works over an in-process Registry and leaves it open on close()', async () => {
    const tenant = freshTenant();
    const client = new Client({ registry: reg.service, tenant });
    await client.configuration.set('in-process', 'yes');
    await client.close();
    expect((await reg.service.getConfig(tenant, 'in-process')).value).toBe('yes');
    const hb = client.heartBeater('x-svc', { token: 't', timeoutSec: 30 });
    expect(hb.serviceId).toBe('x-svc');
  });

  it('rejects a URL without a tenant', () => {
    let err: unknown;
    try {
      new Client({ url: `${reg.url}/v1.0` });
    } catch (e) {
      err = e;
    }
    expect(hasCode(err, 'client.invalidUrl')).toBe(true);
  });
});
