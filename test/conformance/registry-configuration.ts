import { describe, expect, it } from 'vitest';
import type { RegistryEvent } from '../../src/registry/types.js';
import { rawJson } from '../helpers/raw-http.js';
import { expectConfigValueShape, expectEventShape, expectListShape } from './fixtures-shapes.js';
import { expectFault, newTenant, notFound, type HarnessRef } from './registry-support.js';

const badConfigId = { type: 'badRequest' as const, status: 400, message: "Invalid value for 'configurationId' query string parameter" };

const lastEvent = (events: RegistryEvent[]): RegistryEvent => {
  const e = events[events.length - 1];
  if (!e) throw new Error('expected at least one event');
  return e;
};

/** Spec 14, test-api-client-configuration.js: C1, C3-C19 (C2 is transport-level: raw HTTP block). */
export function describeConfigurationLines(h: HarnessRef): void {
  describe('configuration: simple keys CRUD', () => {
    const t = newTenant();

    it('C1 a new account lists 0 configuration values', async () => {
      const page = await h().registry.listConfig(t);
      expectListShape(page, expectConfigValueShape);
      expect(page.values).toEqual([]);
    });

    it('C3 GET of a missing key gives 404', async () => {
      await expectFault(h().registry.getConfig(t, 'inexistent-value'), notFound('ConfigurationValue', 'inexistent-value'));
    });

    it('C4 GET /configuration/ab is an invalid configurationId', async () => {
      await expectFault(h().registry.getConfig(t, 'ab'), badConfigId);
    });

    it('C5 PUT and DELETE on a 199-character id are invalid configurationIds', async () => {
      const { registry } = h();
      const id = 'a'.repeat(199);
      await expectFault(registry.setConfig(t, id, { value: 'v' }), badConfigId);
      await expectFault(registry.deleteConfig(t, id), badConfigId);
    });

    it('C6 PUT test.value.two (dots, no namespace) succeeds', async () => {
      const { registry } = h();
      await expect(registry.setConfig(t, 'test.value.two', { value: 'two' })).resolves.toBeUndefined();
      expect(await registry.getConfig(t, 'test.value.two')).toEqual({ id: 'test.value.two', value: 'two' });
    });

    it('C7 the first PUT my-value-1 appends a configuration_value.update event (2 in total)', async () => {
      const { registry } = h();
      await registry.setConfig(t, 'my-value-1', { value: 'value one' });
      const events = (await registry.listEvents(t)).values;
      expect(events).toHaveLength(2);
      for (const e of events) expectEventShape(e);
      const e = lastEvent(events);
      expect(e.type).toBe('configuration_value.update');
      expect(e.payload).toEqual({ old_value: null, new_value: 'value one', configuration_value_id: 'my-value-1' });
    });

    it('C8 GET my-value-1 returns its value and GET my-va gives 404 (no prefix match)', async () => {
      const { registry } = h();
      const v = await registry.getConfig(t, 'my-value-1');
      expectConfigValueShape(v);
      expect(v).toEqual({ id: 'my-value-1', value: 'value one' });
      await expectFault(registry.getConfig(t, 'my-va'), notFound('ConfigurationValue', 'my-va'));
    });

    it('C9 overwriting my-value-1 adds an update event with the old and new values (4 in total)', async () => {
      const { registry } = h();
      await registry.setConfig(t, 'my-value-2', { value: 'value two' });
      await registry.setConfig(t, 'my-value-1', { value: 'value one, again' });
      const events = (await registry.listEvents(t)).values;
      expect(events).toHaveLength(4);
      const e = lastEvent(events);
      expect(e.type).toBe('configuration_value.update');
      expect(e.payload).toEqual({ old_value: 'value one', new_value: 'value one, again', configuration_value_id: 'my-value-1' });
    });

    it('C10 marker=my-value-2 lists 2, no limit lists 3, limit=1 lists 1', async () => {
      const { registry } = h();
      const fromMarker = await registry.listConfig(t, { marker: 'my-value-2' });
      expect(fromMarker.values.map((v) => v.id)).toEqual(['my-value-2', 'test.value.two']);
      const all = await registry.listConfig(t);
      expect(all.values.map((v) => v.id)).toEqual(['my-value-1', 'my-value-2', 'test.value.two']);
      expect(all.metadata.limit).toBe(100);
      const one = await registry.listConfig(t, { limit: 1 });
      expect(one.values.map((v) => v.id)).toEqual(['my-value-1']);
      expect(one.metadata.next_marker).toBe('my-value-2');
    });

    it('C11 DELETE my-value-1 appends a configuration_value.remove event (5 in total); GET then gives 404', async () => {
      const { registry } = h();
      await expect(registry.deleteConfig(t, 'my-value-1')).resolves.toBeUndefined();
      const events = (await registry.listEvents(t)).values;
      expect(events).toHaveLength(5);
      const e = lastEvent(events);
      expectEventShape(e);
      expect(e.type).toBe('configuration_value.remove');
      expect(e.payload).toEqual({ old_value: 'value one, again', configuration_value_id: 'my-value-1' });
      await expectFault(registry.getConfig(t, 'my-value-1'), notFound('ConfigurationValue', 'my-value-1'));
    });

    it('C12 GET of a missing key names it exactly in details', async () => {
      await expectFault(h().registry.getConfig(t, 'nonExistentConfig'), notFound('ConfigurationValue', 'nonExistentConfig'));
    });

    it('C13 PUT cvfoobarcvfoo stores the id unchanged; its Location segment 6 is the id', async () => {
      const { registry, raw } = h();
      await registry.setConfig(t, 'cvfoobarcvfoo', { value: 'foo' });
      expect((await registry.getConfig(t, 'cvfoobarcvfoo')).id).toBe('cvfoobarcvfoo');
      if (raw) {
        const res = await rawJson(raw.url, 'PUT', `/v1.0/${t}/configuration/cvfoobarcvfoo`, { value: 'bar' });
        expect(res.status).toBe(204);
        expect(String(res.headers.location).split('/')[6]).toBe('cvfoobarcvfoo');
      }
    });
  });

  describeNamespaces(h);
}

const NAMESPACED: Record<string, string> = {
  '/production/cassandra': 'cassandra cluster',
  '/production/cassandra/listen_ip': '10.0.0.1',
  '/production/cassandra/listen_port': '9160',
  '/production/agent_endpoint/fb303.port': '1234',
  '/production/zookeeper/host1': 'zk1.example.com',
  '/production/zookeeper/host2': 'zk2.example.com',
  '/production/web/server_count': '4',
  '/production/web/nginx/workers': '8',
  '/production/queue/name': 'jobs',
  '/production/db_host': 'db.example.com',
  'no-namespace': 'plain',
};

function describeNamespaces(h: HarnessRef): void {
  describe('configuration: namespaced keys CRUD', () => {
    const t = newTenant();

    it('C14 all 11 valid keys are set and the full list returns 11', async () => {
      const { registry } = h();
      for (const [id, value] of Object.entries(NAMESPACED)) await registry.setConfig(t, id, { value });
      const all = await registry.listConfig(t);
      expect(all.values.map((v) => v.id)).toEqual(Object.keys(NAMESPACED).sort());
    });

    it('C15 namespaces list themselves and their sub-namespaces', async () => {
      const { registry } = h();
      const cassandra = await registry.listConfig(t, { namespace: '/production/cassandra' });
      expectListShape(cassandra, expectConfigValueShape);
      expect(cassandra.values.map((v) => v.id)).toEqual([
        '/production/cassandra',
        '/production/cassandra/listen_ip',
        '/production/cassandra/listen_port',
      ]);
      const agent = await registry.listConfig(t, { namespace: '/production/agent_endpoint' });
      expect(agent.values.map((v) => v.id)).toEqual(['/production/agent_endpoint/fb303.port']);
      const production = await registry.listConfig(t, { namespace: '/production' });
      expect(production.values).toHaveLength(10);
      for (const v of production.values) expect(v.id.startsWith('/production')).toBe(true);
    });

    it('C16 GET on each key returns exactly the value that was set', async () => {
      const { registry } = h();
      for (const [id, value] of Object.entries(NAMESPACED)) {
        expect(await registry.getConfig(t, id)).toEqual({ id, value });
      }
    });

    it('C17 PUT /production.foo/test, /production/test.x/ and / are rejected', async () => {
      const { registry } = h();
      for (const id of ['/production.foo/test', '/production/test.x/', '/']) {
        const f = await expectFault(registry.setConfig(t, id, { value: 'x' }), { type: 'badRequest', status: 400 });
        expect(f.message, id).toBe("Invalid value for 'configurationId' query string parameter");
      }
      expect((await registry.listConfig(t)).values).toHaveLength(11);
    });

    it('C18 a namespace alone is not a key; a key that is also a namespace is', async () => {
      const { registry } = h();
      await expectFault(registry.getConfig(t, '/production/zookeeper'), notFound('ConfigurationValue', '/production/zookeeper'));
      expect(await registry.getConfig(t, '/production/cassandra')).toEqual({ id: '/production/cassandra', value: 'cassandra cluster' });
      await expectFault(registry.deleteConfig(t, '/production/zookeeper'), notFound('ConfigurationValue', '/production/zookeeper'));
    });

    it('C19 namespace pages: limit=1 gives next_marker listen_ip; that marker gives the last 2', async () => {
      const { registry } = h();
      const first = await registry.listConfig(t, { namespace: '/production/cassandra', limit: 1 });
      expect(first.values.map((v) => v.id)).toEqual(['/production/cassandra']);
      expect(first.metadata.next_marker).toBe('/production/cassandra/listen_ip');
      const rest = await registry.listConfig(t, { namespace: '/production/cassandra', marker: '/production/cassandra/listen_ip' });
      expect(rest.values.map((v) => v.id)).toEqual(['/production/cassandra/listen_ip', '/production/cassandra/listen_port']);
      expect(rest.metadata.next_marker).toBeNull();
    });
  });
}
