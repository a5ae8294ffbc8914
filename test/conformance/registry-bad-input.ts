import { describe, expect, it } from 'vitest';
import type { ExpectedFault } from './registry-support.js';
import { expectFault, newTenant, serviceBody, type HarnessRef } from './registry-support.js';

const validation = (key: string, details?: string): ExpectedFault => ({
  type: 'badRequest',
  status: 400,
  message: `Validation error for key '${key}'`,
  ...(details !== undefined ? { details } : {}),
});
const emptyBody: ExpectedFault = { type: 'badRequest', status: 400, message: 'Empty Request Body' };

/** Malformed bodies of each kind give a fault (first failing field, schema order: spec 3.3) and change nothing. */
export function describeBadInput(h: HarnessRef): void {
  describe('bad input changes nothing', () => {
    it('create service: each malformed body is refused; no service, no event', async () => {
      const { registry } = h();
      const t = newTenant();
      const ok = { id: 'bad-input-svc', heartbeat_timeout: 30 };
      const cases: Array<[unknown, ExpectedFault]> = [
        [null, emptyBody],
        [{}, validation('id', 'Missing required key (id)')],
        [{ ...ok, id: 5 }, validation('id', 'Not a string')],
        [{ ...ok, id: 'bad id!' }, validation('id', 'Invalid characters')],
        [{ id: ok.id }, validation('heartbeat_timeout', 'Missing required key (heartbeat_timeout)')],
        [{ ...ok, heartbeat_timeout: 2 }, validation('heartbeat_timeout', 'Value out of range (3..120)')],
        [{ ...ok, heartbeat_timeout: 121 }, validation('heartbeat_timeout', 'Value out of range (3..120)')],
        [{ ...ok, heartbeat_timeout: 3.5 }, validation('heartbeat_timeout', 'Invalid integer')],
        [{ ...ok, tags: 'db' }, validation('tags', 'Not an array')],
        [{ ...ok, tags: [''] }, validation('tags', 'String is not in range (1..55)')],
        [{ ...ok, tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }, validation('tags', 'Object needs to have between 0 and 10 items')],
        [{ ...ok, metadata: [] }, validation('metadata', 'Not a hash')],
        [{ ...ok, metadata: { port: 3306 } }, validation('metadata', "Value for key 'port': Not a string")],
        // Schema order id, tags, metadata, heartbeat_timeout: only the first failing field is reported.
        [{ id: ok.id, heartbeat_timeout: 1, metadata: 'x', tags: 'x' }, validation('tags', 'Not an array')],
      ];
      for (const [body, want] of cases) {
        await expectFault(registry.createService(t, body), want);
      }
      expect((await registry.listServices(t)).values).toEqual([]);
      expect((await registry.listEvents(t)).values).toEqual([]);
      // Integer-valued strings are accepted and converted (spec 6.1).
      await registry.createService(t, { ...ok, heartbeat_timeout: '30' });
      expect((await registry.getService(t, ok.id)).heartbeat_timeout).toBe(30);
    });

    it('update service: each malformed body is refused and the service is unchanged', async () => {
      const { registry } = h();
      const t = newTenant();
      await registry.createService(t, serviceBody('patched-svc', 30, { tags: ['a'], metadata: { k: 'v' } }));
      const before = await registry.getService(t, 'patched-svc');
      const cases: Array<[unknown, ExpectedFault]> = [
        [null, emptyBody],
        [{ tags: 'x' }, validation('tags', 'Not an array')],
        [{ metadata: { k: 1 } }, validation('metadata', "Value for key 'k': Not a string")],
        [{ heartbeat_timeout: 500 }, validation('heartbeat_timeout', 'Value out of range (3..120)')],
        [{ tags: ['b'], heartbeat_timeout: 'soon' }, validation('heartbeat_timeout', 'Invalid integer')],
      ];
      for (const [body, want] of cases) await expectFault(registry.updateService(t, 'patched-svc', body), want);
      expect(await registry.getService(t, 'patched-svc')).toEqual(before);
    });

    it('heartbeat: a malformed token body is refused and does not consume the current token', async () => {
      const { registry } = h();
      const t = newTenant();
      const { token } = await registry.createService(t, serviceBody('beaten-svc', 30));
      const cases: Array<[unknown, ExpectedFault]> = [
        [{}, validation('token', 'Missing required key (token)')],
        [{ token: 'not-a-uuid' }, validation('token', 'Invalid UUID')],
        [{ token: 5 }, validation('token')],
        [{ token: '6bc8d050-f86a-41e1-a89e-ca2ffe480b20' }, validation('token', 'UUID is not version 1')],
        [null, emptyBody],
      ];
      for (const [body, want] of cases) await expectFault(registry.heartbeatService(t, 'beaten-svc', body), want);
      expect((await registry.getService(t, 'beaten-svc')).last_seen).toBeNull();
      const next = await registry.heartbeatService(t, 'beaten-svc', { token });
      expect(next.token).not.toBe(token);
    });

    it('set configuration: each malformed body is refused; no value, no event', async () => {
      const { registry } = h();
      const t = newTenant();
      const cases: Array<[unknown, ExpectedFault]> = [
        [null, emptyBody],
        [{}, validation('value', 'Missing required key (value)')],
        [{ value: '' }, validation('value', 'String is not in range (1..1024)')],
        [{ value: 5 }, validation('value', 'Not a string')],
        [{ value: 'x'.repeat(1025) }, validation('value', 'String is not in range (1..1024)')],
      ];
      for (const [body, want] of cases) await expectFault(registry.setConfig(t, 'bad-value-key', body), want);
      expect((await registry.listConfig(t)).values).toEqual([]);
      expect((await registry.listEvents(t)).values).toEqual([]);
      await registry.setConfig(t, 'bad-value-key', { value: 'x'.repeat(1024) });
      expect((await registry.getConfig(t, 'bad-value-key')).value).toHaveLength(1024);
    });

    it('sessions: malformed create and update bodies are refused and change nothing', async () => {
      const { registry } = h();
      const t = newTenant();
      for (const [body, want] of [
        [null, emptyBody],
        [{}, validation('heartbeat_timeout', 'Missing required key (heartbeat_timeout)')],
        [{ heartbeat_timeout: 1 }, validation('heartbeat_timeout', 'Value out of range (3..120)')],
        [{ heartbeat_timeout: 30, metadata: 'x' }, validation('metadata', 'Not a hash')],
      ] as Array<[unknown, ExpectedFault]>) {
        await expectFault(registry.createSession(t, body), want);
      }
      expect((await registry.listSessions(t)).values).toEqual([]);
      const { id } = await registry.createSession(t, { heartbeat_timeout: 30, metadata: { a: 'b' } });
      const before = await registry.getSession(t, id);
      await expectFault(registry.updateSession(t, id, { heartbeat_timeout: 0 }), validation('heartbeat_timeout', 'Value out of range (3..120)'));
      await expectFault(registry.updateSession(t, id, { metadata: { a: 1 } }), validation('metadata', "Value for key 'a': Not a string"));
      expect(await registry.getSession(t, id)).toEqual(before);
    });

    it('list parameters: bad limit and marker values are refused', async () => {
      const { registry } = h();
      const t = newTenant();
      await expectFault(registry.listServices(t, { limit: 'abc' }), { type: 'invalidLimit', status: 400, message: 'Invalid limit', details: 'Limit must be a number' });
      await expectFault(registry.listConfig(t, { limit: 0 }), {
        type: 'invalidLimit',
        status: 400,
        details: 'Invalid limit 0. Minimum limit is 1 and maximum limit is 1000.',
      });
      await expectFault(registry.listEvents(t, { limit: 1001 }), {
        type: 'invalidLimit',
        status: 400,
        details: 'Invalid limit 1001. Minimum limit is 1 and maximum limit is 1000.',
      });
      await expectFault(registry.listServices(t, { marker: 'bad marker!' }), {
        type: 'badRequest',
        status: 400,
        message: "Invalid value for 'marker' query string parameter",
        details: 'Marker contains invalid characters. Valid characters are: /^[a-z0-9\\-:_\\.\\/]{0,255}$/i',
      });
    });
  });
}
