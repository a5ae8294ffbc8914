import { describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { keys, legacyBeatKey } from '../../src/registry/keys.js';
import { RegistryService } from '../../src/registry/service.js';
import { timeUuid } from '../../src/registry/time-uuid.js';
import { openEtcdStore, type EtcdStore } from '../../src/store/etcd.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { etcdGrpcCalls, uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { useOpenRegistries } from '../helpers/etcd-registries.js';

/**
 * A rolling upgrade: servers from before session 10 (5bd62c0) share the etcd
 * with new ones and keep the heartbeat state of the chains they serve at the
 * legacy keys `t/{t}/h/{id}` and `t/{t}/m/{id}`. Such a server is played here
 * by writes exactly as 5bd62c0's advanceBeat made them: a put of the record
 * { token, deadline, last_seen, renewed_at } on the chain's own lease.
 */

const T = 'upgrade';
const etcd = useEtcd();
const open = useOpenRegistries();

async function server(prefix: string, clock: FakeClock): Promise<RegistryService> {
  const s = await openEtcdStore({ endpoints: etcd().endpoints, prefix, compactionIntervalMs: 0 });
  const service = await RegistryService.open(s, { clock, logger: silentLogger(), reaperIntervalMs: 0, reaperGraceMs: 0 });
  open.push({ service, store: s });
  return service;
}

async function rawStore(prefix: string): Promise<EtcdStore> {
  const s = await openEtcdStore({ endpoints: etcd().endpoints, prefix, compactionIntervalMs: 0 });
  open.push({ store: s });
  return s;
}

/** An old server's view of one chain: its state moved to the legacy key, then heartbeats written there. */
class OldServer {
  constructor(
    private readonly raw: EtcdStore,
    private readonly clock: FakeClock,
  ) {}

  /** Moves the chain's state from the new key to the legacy one, value and lease as they were. */
  async adopt(newKey: string, legacyKey: string): Promise<void> {
    const e = (await this.raw.get(newKey))!;
    await this.raw.txn([], [{ type: 'put', key: legacyKey, value: e.value, lease: e.lease }, { type: 'delete', key: newKey }]);
  }

  /** 5bd62c0's heartbeat commit: the next token, deadline now + timeout, on the chain's lease. */
  async beat(legacyKey: string, timeoutSec: number): Promise<string> {
    const e = (await this.raw.get(legacyKey))!;
    const now = this.clock.now();
    const deadline = now + timeoutSec * 1000;
    const next = { token: timeUuid(deadline), deadline, last_seen: now, renewed_at: now };
    await this.raw.txn([{ key: legacyKey, op: 'modRevision', revision: e.modRevision }], [{ type: 'put', key: legacyKey, value: JSON.stringify(next), lease: e.lease }]);
    return next.token;
  }
}

const notFound = { status: 404 };

/** etcd's count of the KV requests it handled (reads of several keys are read-only txns). */
async function handled(): Promise<number> {
  return etcdGrpcCalls(etcd().endpoints[0]!, ['Txn', 'Range']);
}

describe('rolling upgrade: old servers keep heartbeat state at the legacy keys', () => {
  it("a new server's sweep keeps services and sessions alive on current legacy state and expires them once it is past due", async () => {
    const clock = new FakeClock();
    const prefix = uniquePrefix();
    const [a, b] = [await server(prefix, clock), await server(prefix, clock)];
    const old = new OldServer(await rawStore(prefix), clock);
    await a.createService(T, { id: 'svc', heartbeat_timeout: 3 });
    const ses = await a.createSession(T, { heartbeat_timeout: 3 });
    const svcKey = legacyBeatKey('svc', T, 'svc');
    const sesKey = legacyBeatKey('ses', T, ses.id);
    await old.adopt(keys.beat(T, 'svc'), svcKey);
    await old.adopt(keys.sessionBeat(T, ses.id), sesKey);
    await vi.waitFor(async () => expect((await b.listServices(T)).values.map((s) => s.id)).toEqual(['svc']));
    let last = '';
    for (let i = 0; i < 4; i++) {
      clock.advance(2_000);
      last = await old.beat(svcKey, 3);
      await old.beat(sesKey, 3);
      // Past the creation deadline both new servers hold, with no state at the new keys.
      await b.maintain();
      await a.maintain();
      expect((await b.getService(T, 'svc')).id).toBe('svc');
      expect((await b.getSession(T, ses.id)).id).toBe(ses.id);
    }
    clock.advance(3_500);
    await Promise.all([a.maintain(), b.maintain()]);
    expect((await b.listServices(T)).values).toEqual([]);
    await expect(a.getSession(T, ses.id)).rejects.toMatchObject(notFound);
    const timeouts = (await a.listEvents(T)).values.filter((e) => e.type === 'service.timeout');
    expect(timeouts.map((e) => e.id)).toEqual([last]);
  });

  it('a heartbeat on a new server with the legacy chain token moves the chain to the new layout; a replay gets 404', async () => {
    const clock = new FakeClock();
    const prefix = uniquePrefix();
    const [a, b] = [await server(prefix, clock), await server(prefix, clock)];
    const raw = await rawStore(prefix);
    const old = new OldServer(raw, clock);
    await a.createService(T, { id: 'moving', heartbeat_timeout: 30 });
    const key = legacyBeatKey('svc', T, 'moving');
    await old.adopt(keys.beat(T, 'moving'), key);
    const lease = (await raw.get(key))!.lease;
    clock.advance(1_000);
    const legacyToken = await old.beat(key, 30);
    clock.advance(1_000);
    const next = (await b.heartbeatService(T, 'moving', { token: legacyToken })).token;
    expect(await raw.get(key)).toBeUndefined();
    const moved = (await raw.get(keys.beat(T, 'moving')))!;
    expect(moved.lease).toBe(lease);
    expect(JSON.parse(moved.value)).toMatchObject({ token: next, deadline: clock.now() + 30_000, last_seen: clock.now() });
    await expect(b.heartbeatService(T, 'moving', { token: legacyToken })).rejects.toMatchObject(notFound);
    await expect(a.heartbeatService(T, 'moving', { token: legacyToken })).rejects.toMatchObject(notFound);
    expect((await a.heartbeatService(T, 'moving', { token: next })).token).not.toBe(next);
  });

  it('a legacy token that is not the current one gets 404 and moves nothing', async () => {
    const clock = new FakeClock();
    const prefix = uniquePrefix();
    const a = await server(prefix, clock);
    const raw = await rawStore(prefix);
    const old = new OldServer(raw, clock);
    const { token: t0 } = await a.createService(T, { id: 'stale', heartbeat_timeout: 30 });
    const key = legacyBeatKey('svc', T, 'stale');
    await old.adopt(keys.beat(T, 'stale'), key);
    clock.advance(1_000);
    await old.beat(key, 30);
    await expect(a.heartbeatService(T, 'stale', { token: t0 as string })).rejects.toMatchObject(notFound);
    expect(await raw.get(key)).toBeDefined();
    expect(await raw.get(keys.beat(T, 'stale'))).toBeUndefined();
  });

  it("an old server's beat between a new server's read of the legacy key and its commit wins; the new server answers 404", async () => {
    const clock = new FakeClock();
    const prefix = uniquePrefix();
    const raw = await rawStore(prefix);
    const old = new OldServer(raw, clock);
    const key = legacyBeatKey('svc', T, 'raced');
    let raced = false;
    // The new server's store, as it is, except that its first read of the legacy key lets the old server beat right after.
    const inner = await rawStore(prefix);
    const racing = new Proxy(inner, {
      get(target, prop) {
        if (prop === 'get') {
          return async (k: string) => {
            const got = await target.get(k);
            if (k === key && !raced) {
              raced = true;
              await old.beat(key, 30);
            }
            return got;
          };
        }
        const v: unknown = Reflect.get(target, prop);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const b = await RegistryService.open(racing, { clock, logger: silentLogger(), reaperIntervalMs: 0, reaperGraceMs: 0 });
    open.push({ service: b, store: inner });
    const a = await server(prefix, clock);
    const { token } = await a.createService(T, { id: 'raced', heartbeat_timeout: 30 });
    await old.adopt(keys.beat(T, 'raced'), key);
    clock.advance(1_000);
    await expect(b.heartbeatService(T, 'raced', { token: token as string })).rejects.toMatchObject(notFound);
    expect(raced).toBe(true);
    expect(await raw.get(keys.beat(T, 'raced'))).toBeUndefined();
    expect(JSON.parse((await raw.get(key))!.value)).toMatchObject({ last_seen: clock.now() });
  });

  it('a sweep keeps 40 services alive on legacy state in a few batched reads, not a txn each', async () => {
    const clock = new FakeClock();
    const prefix = uniquePrefix();
    const [a, b] = [await server(prefix, clock), await server(prefix, clock)];
    const old = new OldServer(await rawStore(prefix), clock);
    const ids = Array.from({ length: 40 }, (_, i) => `legacy-${i}`);
    for (const id of ids) {
      await a.createService(T, { id, heartbeat_timeout: 3 });
      await old.adopt(keys.beat(T, id), legacyBeatKey('svc', T, id));
    }
    await vi.waitFor(async () => expect((await b.listServices(T, { limit: 1000 })).values).toHaveLength(40));
    clock.advance(2_000);
    for (const id of ids) await old.beat(legacyBeatKey('svc', T, id), 3);
    clock.advance(2_000);
    const before = await handled();
    await b.maintain();
    // New keys, then legacy keys: one read of each; the one-by-one path would be 3 requests per service.
    expect((await handled()) - before).toBeLessThanOrEqual(4);
    expect((await b.listServices(T, { limit: 1000 })).values).toHaveLength(40);
  });
});
