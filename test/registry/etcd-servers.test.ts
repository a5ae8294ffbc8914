import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { RegistryService } from '../../src/registry/service.js';
import { openEtcdStore, type EtcdStore } from '../../src/store/etcd.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { uniquePrefix, useEtcd } from '../helpers/etcd.js';

/**
 * Several RegistryService instances over one etcd prefix, as several registry
 * servers are, with clocks the test moves: the races between them are run on
 * purpose here rather than left to timing.
 */

const TENANT = 'race';
const etcd = useEtcd();
const open: Array<{ service: RegistryService; store: EtcdStore }> = [];

afterEach(async () => {
  for (const { service, store } of open.splice(0)) {
    await service.close();
    await store.close();
  }
});

async function servers(n: number, clock: FakeClock): Promise<RegistryService[]> {
  const prefix = uniquePrefix();
  const out: RegistryService[] = [];
  for (let i = 0; i < n; i++) {
    const store = await openEtcdStore({ endpoints: etcd().endpoints, prefix, compactionIntervalMs: 0 });
    const service = await RegistryService.open(store, { clock, logger: silentLogger(), reaperIntervalMs: 0 });
    open.push({ service, store });
    out.push(service);
  }
  return out;
}

describe('registry servers over one etcd', () => {
  it('expiring the same services from three servers at once writes exactly one service.timeout each', async () => {
    const clock = new FakeClock();
    const [a, b, c] = (await servers(3, clock)) as [RegistryService, RegistryService, RegistryService];
    const ids = Array.from({ length: 20 }, (_, i) => `svc-${i}`);
    for (const id of ids) await a.createService(TENANT, { id, tags: [], metadata: {}, heartbeat_timeout: 3 });
    const session = await b.createSession(TENANT, { heartbeat_timeout: 3, metadata: {} });
    for (const id of ['bound-1', 'bound-2']) await b.createService(TENANT, { id, tags: [], metadata: {}, session_id: session.id });
    // b and c learn a's deadlines from etcd's watch, not from their own calls.
    await vi.waitFor(async () => expect((await c.listServices(TENANT)).values).toHaveLength(22));

    clock.advance(10_000);
    await Promise.all([a.maintain(), b.maintain(), c.maintain(), a.listServices(TENANT), b.listServices(TENANT), c.listServices(TENANT)]);

    for (const s of [a, b, c]) expect((await s.listServices(TENANT)).values).toEqual([]);
    const timeouts = (await c.listEvents(TENANT, { limit: 1000 })).values.filter((e) => e.type === 'service.timeout');
    expect(timeouts.map((e) => (e.payload as { id: string }).id).sort()).toEqual([...ids, 'bound-1', 'bound-2'].sort());
    expect(new Set(timeouts.map((e) => e.id)).size).toBe(22);
  });

  it('a server expires, on read, a service created and heartbeated only through another', async () => {
    const clock = new FakeClock();
    const [a, b] = (await servers(2, clock)) as [RegistryService, RegistryService];
    const { token } = await a.createService(TENANT, { id: 'elsewhere', tags: [], metadata: {}, heartbeat_timeout: 3 });
    await a.heartbeatService(TENANT, 'elsewhere', { token });
    // b never touched it: only etcd's watch told b its deadline.
    await vi.waitFor(async () => {
      clock.advance(500);
      expect((await b.listServices(TENANT)).values).toEqual([]);
    });
    const events = (await a.listEvents(TENANT)).values.map((e) => e.type);
    expect(events).toEqual(['service.join', 'service.timeout']);
  });

  it('a heartbeat through one server keeps a service alive on every server', async () => {
    const clock = new FakeClock();
    const [a, b] = (await servers(2, clock)) as [RegistryService, RegistryService];
    const { token } = await a.createService(TENANT, { id: 'kept', tags: [], metadata: {}, heartbeat_timeout: 5 });
    clock.advance(4_000);
    await b.heartbeatService(TENANT, 'kept', { token });
    clock.advance(4_000); // past a's own idea of the deadline (5 s), within the heartbeat's
    await vi.waitFor(async () => {
      await Promise.all([a.maintain(), b.maintain()]);
      expect((await a.getService(TENANT, 'kept')).id).toBe('kept');
    });
    clock.advance(2_000); // now past the heartbeat's deadline too
    await a.maintain();
    await expect(b.getService(TENANT, 'kept')).rejects.toMatchObject({ type: 'notFoundError' });
  });
});
