import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { uuidTime } from '../../src/registry/time-uuid.js';
import { registryImplementation, type RegistryHarness } from '../helpers/registries.js';

/**
 * A heartbeat parses its owner's record once per version of it, and reuses
 * the state it wrote itself instead of parsing it back (beats.ts, ownerFields
 * and beatOf): a change of the record between two heartbeats of a chain must
 * show at the next one, and only the current token may go on.
 */
describe('heartbeats after their owner changed', () => {
  let h: RegistryHarness;

  beforeEach(async () => {
    h = await registryImplementation('direct').open({ reaperIntervalMs: 0 });
  });

  afterEach(async () => {
    await h.close();
  });

  it('takes a new heartbeat_timeout from the next heartbeat on', async () => {
    const { registry, clock } = h;
    const { token } = await registry.createService('memo', { id: 'svc-1', heartbeat_timeout: 10 });
    const first = (await registry.heartbeatService('memo', 'svc-1', { token })).token;
    expect(uuidTime(first)).toBe(clock.now() + 10_000);
    await registry.updateService('memo', 'svc-1', { heartbeat_timeout: 3 });
    clock.advance(1000);
    const second = (await registry.heartbeatService('memo', 'svc-1', { token: first })).token;
    expect(uuidTime(second)).toBe(clock.now() + 3000);
    await registry.updateService('memo', 'svc-1', { heartbeat_timeout: 20 });
    const third = (await registry.heartbeatService('memo', 'svc-1', { token: second })).token;
    expect(uuidTime(third)).toBe(clock.now() + 20_000);
  });

  it('keeps each service of a tenant to its own timeout', async () => {
    const { registry, clock } = h;
    const a = await registry.createService('memo', { id: 'svc-a', heartbeat_timeout: 5 });
    const b = await registry.createService('memo', { id: 'svc-b', heartbeat_timeout: 7 });
    for (let i = 0; i < 3; i++) {
      a.token = (await registry.heartbeatService('memo', 'svc-a', { token: a.token })).token;
      b.token = (await registry.heartbeatService('memo', 'svc-b', { token: b.token })).token;
      expect(uuidTime(a.token as string)).toBe(clock.now() + 5000);
      expect(uuidTime(b.token as string)).toBe(clock.now() + 7000);
    }
  });

  it('answers 404 once the service was deleted and created again with no chain yet', async () => {
    const { registry } = h;
    const { token } = await registry.createService('memo', { id: 'svc-2', heartbeat_timeout: 10 });
    const next = (await registry.heartbeatService('memo', 'svc-2', { token })).token;
    await registry.deleteService('memo', 'svc-2');
    await expect(registry.heartbeatService('memo', 'svc-2', { token: next })).rejects.toMatchObject({ status: 404 });
  });

  it('refuses a consumed token after the state was reused, and goes on with the current one', async () => {
    const { registry } = h;
    const { token } = await registry.createService('memo', { id: 'svc-3', heartbeat_timeout: 10 });
    const first = (await registry.heartbeatService('memo', 'svc-3', { token })).token;
    const second = (await registry.heartbeatService('memo', 'svc-3', { token: first })).token;
    await expect(registry.heartbeatService('memo', 'svc-3', { token: first })).rejects.toMatchObject({ status: 404 });
    await expect(registry.heartbeatService('memo', 'svc-3', { token })).rejects.toMatchObject({ status: 404 });
    const third = (await registry.heartbeatService('memo', 'svc-3', { token: second })).token;
    expect(third).not.toBe(second);
    expect((await registry.getService('memo', 'svc-3')).last_seen).not.toBeNull();
  });

  it('reads a state written by another path (a service created again under the same id)', async () => {
    const { registry } = h;
    const { token } = await registry.createService('memo', { id: 'svc-4', heartbeat_timeout: 10 });
    await registry.heartbeatService('memo', 'svc-4', { token });
    await registry.deleteService('memo', 'svc-4');
    const again = await registry.createService('memo', { id: 'svc-4', heartbeat_timeout: 10 });
    const next = (await registry.heartbeatService('memo', 'svc-4', { token: again.token })).token;
    expect(typeof next).toBe('string');
  });
});
