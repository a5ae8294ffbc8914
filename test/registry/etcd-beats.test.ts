import { describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { keys } from '../../src/registry/keys.js';
import { RegistryService } from '../../src/registry/service.js';
import { openEtcdStore, type EtcdStore } from '../../src/store/etcd.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { etcdGrpcCalls, uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { useOpenRegistries } from '../helpers/etcd-registries.js';

/**
 * Heartbeat state on etcd lives in unwatched keys (keys.ts) and a server plans
 * the next heartbeat of a chain it handed out from what it committed
 * (beat-cache.ts): what other servers still see, what they refuse, and data
 * written in the layout before.
 */

const T = 'beats';
const etcd = useEtcd();
const open = useOpenRegistries();

async function store(prefix: string): Promise<EtcdStore> {
  const s = await openEtcdStore({ endpoints: etcd().endpoints, prefix, compactionIntervalMs: 0 });
  open.push({ store: s });
  return s;
}

async function server(prefix: string, clock: FakeClock): Promise<RegistryService> {
  const s = await openEtcdStore({ endpoints: etcd().endpoints, prefix, compactionIntervalMs: 0 });
  const service = await RegistryService.open(s, { clock, logger: silentLogger(), reaperIntervalMs: 0, reaperGraceMs: 0 });
  open.push({ service, store: s });
  return service;
}

/** etcd's count of the KV requests it handled (reads of several keys are read-only txns too). */
async function handled(methods: readonly string[] = ['Txn']): Promise<number> {
  return etcdGrpcCalls(etcd().endpoints[0]!, methods);
}
const txns = (): Promise<number> => handled();

const notFound = { status: 404 };

describe('heartbeats on etcd: unwatched state, planned from the last commit', () => {
  it('heartbeats through one server keep a service alive on another, which expires it once they stop', async () => {
    const clock = new FakeClock();
    const prefix = uniquePrefix();
    const [a, b] = [await server(prefix, clock), await server(prefix, clock)];
    let { token } = await a.createService(T, { id: 'svc', heartbeat_timeout: 3 });
    // b learns of it from the service record on the watch stream.
    await vi.waitFor(async () => expect((await b.listServices(T)).values.map((s) => s.id)).toEqual(['svc']));
    for (let i = 0; i < 4; i++) {
      clock.advance(2_000);
      token = (await a.heartbeatService(T, 'svc', { token })).token;
      await b.maintain();
      expect((await b.getService(T, 'svc')).id).toBe('svc');
    }
    clock.advance(3_500);
    expect((await b.listServices(T)).values).toEqual([]);
    await expect(a.getService(T, 'svc')).rejects.toMatchObject(notFound);
    const timeouts = (await a.listEvents(T)).values.filter((e) => e.type === 'service.timeout');
    expect(timeouts.map((e) => e.id)).toEqual([token]);
  });

  it('last_seen of a heartbeat through one server shows on a read from another', async () => {
    const clock = new FakeClock();
    const prefix = uniquePrefix();
    const [a, b] = [await server(prefix, clock), await server(prefix, clock)];
    const { token } = await a.createService(T, { id: 'seen', heartbeat_timeout: 30 });
    expect((await b.getService(T, 'seen')).last_seen).toBeNull();
    clock.advance(1_234);
    await a.heartbeatService(T, 'seen', { token });
    expect((await b.getService(T, 'seen')).last_seen).toBe(clock.now());
  });

  it('a used token gets 404 from either server, also after the chain moved between them', async () => {
    const clock = new FakeClock();
    const prefix = uniquePrefix();
    const [a, b] = [await server(prefix, clock), await server(prefix, clock)];
    const t0 = (await a.createService(T, { id: 'chain', heartbeat_timeout: 30 })).token as string;
    const t1 = (await a.heartbeatService(T, 'chain', { token: t0 })).token;
    await expect(a.heartbeatService(T, 'chain', { token: t0 })).rejects.toMatchObject(notFound);
    await expect(b.heartbeatService(T, 'chain', { token: t0 })).rejects.toMatchObject(notFound);
    // a still holds t1 as its last commit; b moves the chain on.
    const t2 = (await b.heartbeatService(T, 'chain', { token: t1 })).token;
    await expect(a.heartbeatService(T, 'chain', { token: t1 })).rejects.toMatchObject(notFound);
    await expect(b.heartbeatService(T, 'chain', { token: t1 })).rejects.toMatchObject(notFound);
    const t3 = (await a.heartbeatService(T, 'chain', { token: t2 })).token;
    await expect(b.heartbeatService(T, 'chain', { token: t2 })).rejects.toMatchObject(notFound);
    expect((await b.heartbeatService(T, 'chain', { token: t3 })).token).not.toBe(t3);
  });

  it('a timeout changed through another server applies to the next heartbeat planned from the last commit', async () => {
    const clock = new FakeClock();
    const prefix = uniquePrefix();
    const [a, b] = [await server(prefix, clock), await server(prefix, clock)];
    const raw = await store(prefix);
    let { token } = await a.createService(T, { id: 'slow', heartbeat_timeout: 60 });
    token = (await a.heartbeatService(T, 'slow', { token: token as string })).token;
    await b.updateService(T, 'slow', { heartbeat_timeout: 5 });
    await a.heartbeatService(T, 'slow', { token });
    const beat = JSON.parse((await raw.get(keys.beat(T, 'slow')))!.value) as { deadline: number };
    expect(beat.deadline).toBe(clock.now() + 5_000);
  });

  it('a heartbeat planned from the last commit reads nothing: one etcd txn each', async () => {
    const clock = new FakeClock();
    const a = await server(uniquePrefix(), clock);
    let { token } = await a.createService(T, { id: 'cheap', heartbeat_timeout: 30 });
    token = (await a.heartbeatService(T, 'cheap', { token: token as string })).token;
    const before = await txns();
    for (let i = 0; i < 5; i++) token = (await a.heartbeatService(T, 'cheap', { token })).token;
    // A read of the service and its state would be a read-only txn per heartbeat on top.
    expect((await txns()) - before).toBe(5);
  });

  it('a sweep on a server that heard none of 100 heartbeats reads their state in a few requests and expires none', async () => {
    const clock = new FakeClock();
    const prefix = uniquePrefix();
    const [a, b] = [await server(prefix, clock), await server(prefix, clock)];
    const ids = Array.from({ length: 100 }, (_, i) => `fleet-${i}`);
    // One at a time: concurrent creations all contend for the tenant's last-event key.
    const tokens: string[] = [];
    for (const id of ids) tokens.push((await a.createService(T, { id, heartbeat_timeout: 3 })).token as string);
    await vi.waitFor(async () => expect((await b.listServices(T, { limit: 1000 })).values).toHaveLength(100));
    clock.advance(2_000);
    await Promise.all(ids.map((id, i) => a.heartbeatService(T, id, { token: tokens[i]! })));
    clock.advance(2_000);
    // b's index still holds the creation deadlines (3 s), now past.
    const before = await handled(['Txn', 'Range']);
    await b.maintain();
    expect((await handled(['Txn', 'Range'])) - before).toBeLessThanOrEqual(4);
    expect((await b.listServices(T, { limit: 1000 })).values).toHaveLength(100);
    expect((await a.listEvents(T, { limit: 1000 })).values.filter((e) => e.type === 'service.timeout')).toEqual([]);
  });

  it('heartbeat state never comes on the watch stream; the records do', async () => {
    const clock = new FakeClock();
    const prefix = uniquePrefix();
    const a = await server(prefix, clock);
    const watcher = await store(prefix);
    const seen: string[] = [];
    const stop = new AbortController();
    await watcher.watch('', (await watcher.watchedRevision()) + 1, (evs) => seen.push(...evs.map((e) => e.key)), stop.signal);
    let { token } = await a.createService(T, { id: 'quiet', heartbeat_timeout: 30 });
    for (let i = 0; i < 3; i++) token = (await a.heartbeatService(T, 'quiet', { token: token as string })).token;
    await a.setConfig(T, 'after', { value: 'x' });
    await vi.waitFor(() => expect(seen).toContain(keys.config(T, 'after')));
    stop.abort();
    expect(seen).toContain(keys.service(T, 'quiet'));
    expect(seen.filter((k) => k.startsWith('~'))).toEqual([]);
  });

  it('an etcd in the layout before keeps its services and sessions: their state moves when a server opens', async () => {
    const clock = new FakeClock();
    const prefix = uniquePrefix();
    const old = await server(prefix, clock);
    const svcToken = (await old.createService(T, { id: 'kept', heartbeat_timeout: 60 })).token as string;
    const ses = await old.createSession(T, { heartbeat_timeout: 60 });
    // Put the state back where registries before session 10 kept it, value and lease as they were.
    const raw = await store(prefix);
    const moves = [
      [keys.beat(T, 'kept'), `t/${T}/h/kept`],
      [keys.sessionBeat(T, ses.id), `t/${T}/m/${ses.id}`],
    ] as const;
    for (const [now, before] of moves) {
      const e = (await raw.get(now))!;
      await raw.txn([], [{ type: 'put', key: before, value: e.value, lease: e.lease }, { type: 'delete', key: now }]);
    }
    const leases = await Promise.all(moves.map(async ([, before]) => (await raw.get(before))!.lease));
    // Data written before session 10 has no layout mark either.
    await raw.txn([], [{ type: 'delete', key: keys.beatLayout }]);
    // Two upgraded servers open at once; each move happens once.
    const [c, d] = await Promise.all([server(prefix, clock), server(prefix, clock)]);
    for (const [i, [now, before]] of moves.entries()) {
      expect(await raw.get(before)).toBeUndefined();
      expect((await raw.get(now))?.lease).toBe(leases[i]);
    }
    clock.advance(10_000);
    const next = (await c.heartbeatService(T, 'kept', { token: svcToken })).token;
    await expect(d.heartbeatService(T, 'kept', { token: svcToken })).rejects.toMatchObject(notFound);
    expect((await d.heartbeatService(T, 'kept', { token: next })).token).toMatch(/-/);
    expect((await d.heartbeatSession(T, ses.id, { token: ses.token })).token).toMatch(/-/);
    expect((await c.getService(T, 'kept')).last_seen).toBe(clock.now());
  });
});
