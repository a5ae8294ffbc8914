import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { beatLeaseMs, type Ctx } from '../../src/registry/context.js';
import { RegistryService } from '../../src/registry/service.js';
import { openEtcdStore, type EtcdStore } from '../../src/store/etcd.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { useOpenRegistries } from '../helpers/etcd-registries.js';

/**
 * Several RegistryService instances over one etcd prefix, as several registry
 * servers are, with clocks the test moves: the races between them are run on
 * purpose here rather than left to timing.
 */

const TENANT = 'race';
const etcd = useEtcd();
const open = useOpenRegistries();

async function servers(n: number, clock: FakeClock, reaperGraceMs?: number): Promise<RegistryService[]> {
  const prefix = uniquePrefix();
  const out: RegistryService[] = [];
  for (let i = 0; i < n; i++) {
    const store = await openEtcdStore({ endpoints: etcd().endpoints, prefix, compactionIntervalMs: 0 });
    const service = await RegistryService.open(store, { clock, logger: silentLogger(), reaperIntervalMs: 0, ...(reaperGraceMs !== undefined ? { reaperGraceMs } : {}) });
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
    // No reaper grace: otherwise maintain() below could not reap at a's stale 5 s deadline anyway.
    const [a, b] = (await servers(2, clock, 0)) as [RegistryService, RegistryService];
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

describe('registry servers over one etcd, with clocks apart', () => {
  it('a server whose clock is behind accepts, as a marker, the id of an event another server just wrote', async () => {
    const prefix = uniquePrefix();
    const slow = new FakeClock();
    const fast = new FakeClock(slow.now() + 2_000); // hosts' clocks are never exactly equal
    const [a, b] = await Promise.all(
      [fast, slow].map(async (clock) => {
        const store = await openEtcdStore({ endpoints: etcd().endpoints, prefix, compactionIntervalMs: 0 });
        const service = await RegistryService.open(store, { clock, logger: silentLogger(), reaperIntervalMs: 0 });
        open.push({ service, store });
        return service;
      }),
    );
    await b!.getLimits(TENANT); // the account exists before either clock's "now"
    await a!.createService(TENANT, { id: 'joined-via-a', tags: [], metadata: {}, heartbeat_timeout: 30 });
    const [join] = (await a!.listEvents(TENANT)).values;
    // A follower that got this event from a resumes from it on b: that must not be a "future" marker.
    const page = await b!.listEvents(TENANT, { marker: join!.id });
    expect(page.values.map((e) => e.id)).toEqual([join!.id]);
    // A marker past every committed event is still refused.
    const later = (await import('../../src/registry/time-uuid.js')).timeUuid(fast.now() + 60_000);
    await expect(b!.listEvents(TENANT, { marker: later })).rejects.toMatchObject({ type: 'badRequest' });
  });
});

/**
 * A pass-through HTTP proxy in front of the real etcd that can cut the
 * connection of requests to one path: an etcd that fails one call of a pair.
 * It speaks the JSON gateway, so the stores behind it use that transport.
 */
async function faultyEtcdProxy(target: string): Promise<{ url: string; failPath: string | null; close: () => Promise<void> }> {
  const state = { failPath: null as string | null };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === state.failPath) {
        req.socket.destroy();
        return;
      }
      // Streamed back as it comes: the watch is one long reply.
      void request(`${target}${req.url ?? '/'}`, { method: 'POST', body: Buffer.concat(chunks), headers: { 'content-type': 'application/json' } }).then(
        (up) => {
          res.writeHead(up.statusCode, { 'content-type': 'application/json' });
          up.body.on('error', () => res.destroy());
          res.on('close', () => up.body.destroy());
          up.body.pipe(res);
        },
        () => req.socket.destroy(),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get failPath() {
      return state.failPath;
    },
    set failPath(p: string | null) {
      state.failPath = p;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  return proxy;
}

describe('a registry server whose etcd fails between the two writes of a heartbeat', () => {
  it('answers the committed heartbeat with its new token, not a 503 that strands the agent on a consumed token', async () => {
    const proxy = await faultyEtcdProxy(etcd().endpoints[0]!);
    try {
      const store = await openEtcdStore({ endpoints: [proxy.url], prefix: uniquePrefix(), compactionIntervalMs: 0, timeoutMs: 1_000, transport: 'gateway' });
      const clock = new FakeClock();
      const service = await RegistryService.open(store, { clock, logger: silentLogger(), reaperIntervalMs: 0, reaperGraceMs: 0 });
      open.push({ service, store });
      const { token } = await service.createService(TENANT, { id: 'beating', tags: [], metadata: {}, heartbeat_timeout: 120 });
      // A heartbeat renews its lease only once a third of the lease's TTL has passed (beats.ts): without this, no keep-alive is sent.
      clock.advance(beatLeaseMs({ opts: { reaperGraceMs: 0 } } as Ctx) / 3);
      proxy.failPath = '/v3/lease/keepalive'; // the token CAS commits; renewing its lease does not
      const next = await service.heartbeatService(TENANT, 'beating', { token: token! });
      proxy.failPath = null;
      // The chain goes on from the token the registry committed and answered.
      await service.heartbeatService(TENANT, 'beating', { token: next.token });
      await expect(service.heartbeatService(TENANT, 'beating', { token: token! })).rejects.toMatchObject({ type: 'notFoundError' });
    } finally {
      await proxy.close();
    }
  });
});

describe('a registry server whose etcd fails the lease revoke after a committed removal', () => {
  it('answers the committed delete and the committed expiry as done, not with a 503', async () => {
    const proxy = await faultyEtcdProxy(etcd().endpoints[0]!);
    try {
      const clock = new FakeClock();
      const store = await openEtcdStore({ endpoints: [proxy.url], prefix: uniquePrefix(), compactionIntervalMs: 0, timeoutMs: 1_000, transport: 'gateway' });
      const service = await RegistryService.open(store, { clock, logger: silentLogger(), reaperIntervalMs: 0 });
      open.push({ service, store });
      await service.createService(TENANT, { id: 'deleted', tags: [], metadata: {}, heartbeat_timeout: 10 });
      await service.createService(TENANT, { id: 'expired', tags: [], metadata: {}, heartbeat_timeout: 3 });
      proxy.failPath = '/v3/lease/revoke'; // the delete/expiry txn commits; revoking its lease (cleanup) does not
      await service.deleteService(TENANT, 'deleted');
      clock.advance(5_000);
      expect((await service.listServices(TENANT)).values).toEqual([]);
      proxy.failPath = null;
      const types = (await service.listEvents(TENANT)).values.map((e) => [e.type, (e.payload as { id: string }).id]);
      expect(types).toEqual([
        ['service.join', 'deleted'],
        ['service.join', 'expired'],
        ['service.remove', 'deleted'],
        ['service.timeout', 'expired'],
      ]);
    } finally {
      await proxy.close();
    }
  });
});
