import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { beatLeaseMs, type Ctx } from '../../src/registry/context.js';
import { keys, legacyBeatKey } from '../../src/registry/keys.js';
import { RegistryService } from '../../src/registry/service.js';
import { timeUuid } from '../../src/registry/time-uuid.js';
import { openEtcdStore, type EtcdStore } from '../../src/store/etcd.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { etcdGrpcCalls, uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { useOpenRegistries } from '../helpers/etcd-registries.js';
import { api, startServerFor, type TestServer } from '../server/helpers.js';

/**
 * `last_seen` through a new server's HTTP API during a rolling upgrade over
 * etcd: servers from before session 10 keep the heartbeat state of the chains
 * they serve at `t/{t}/h/{id}` and `t/{t}/m/{id}` (played here by writes as
 * 5bd62c0 made them, as in etcd-rolling-upgrade.test.ts).
 */

const T = 'lastseen';
const etcd = useEtcd();
const open = useOpenRegistries();
const servers: TestServer[] = [];
// Registered after useOpenRegistries' hook, so it runs before it (hooks run as a stack): servers close before their registries.
afterEach(async () => {
  for (const s of servers.splice(0)) await s.server.close();
});

async function store(prefix: string): Promise<EtcdStore> {
  const s = await openEtcdStore({ endpoints: etcd().endpoints, prefix, compactionIntervalMs: 0 });
  open.push({ store: s });
  return s;
}

async function registry(prefix: string, clock: FakeClock): Promise<RegistryService> {
  const s = await openEtcdStore({ endpoints: etcd().endpoints, prefix, compactionIntervalMs: 0 });
  const service = await RegistryService.open(s, { clock, logger: silentLogger(), reaperIntervalMs: 0, reaperGraceMs: 0 });
  open.push({ service, store: s });
  return service;
}

/** etcd's count of the KV requests it handled (reads of several keys are read-only txns). */
async function handled(): Promise<number> {
  return etcdGrpcCalls(etcd().endpoints[0]!, ['Txn', 'Range']);
}

/** A new server behind real HTTP on 127.0.0.1:0. */
async function httpServer(prefix: string, clock: FakeClock): Promise<ReturnType<typeof api>> {
  const s = await startServerFor(await registry(prefix, clock));
  servers.push(s);
  return api(s.port, T);
}

/** An old server's commit of one heartbeat: its chain's state at the legacy key, on the chain's lease. */
async function oldBeat(raw: EtcdStore, from: string, legacyKey: string, clock: FakeClock, timeoutSec: number): Promise<number> {
  const e = (await raw.get(legacyKey)) ?? (await raw.get(from))!;
  const now = clock.now();
  const next = { token: timeUuid(now + timeoutSec * 1000), deadline: now + timeoutSec * 1000, last_seen: now, renewed_at: now };
  await raw.txn([], [{ type: 'put', key: legacyKey, value: JSON.stringify(next), lease: e.lease }, { type: 'delete', key: from }]);
  return now;
}

describe('last_seen over HTTP while old servers write the legacy heartbeat keys', () => {
  it("a new server shows the legacy state's last_seen for services, sessions and session-bound services", async () => {
    const clock = new FakeClock();
    const prefix = uniquePrefix();
    const a = await registry(prefix, clock);
    const raw = await store(prefix);
    await a.createService(T, { id: 'svc', heartbeat_timeout: 3 });
    const ses = await a.createSession(T, { heartbeat_timeout: 3 });
    await a.createService(T, { id: 'bound', session_id: ses.id });
    clock.advance(2_000);
    const svcSeen = await oldBeat(raw, keys.beat(T, 'svc'), legacyBeatKey('svc', T, 'svc'), clock, 3);
    const sesSeen = await oldBeat(raw, keys.sessionBeat(T, ses.id), legacyBeatKey('ses', T, ses.id), clock, 3);
    clock.advance(1_500);
    // A's sweep finds both due at their creation deadline, and alive only at the legacy keys.
    await a.maintain();
    // B starts mid-upgrade: it learns of the legacy state with its layout mark.
    const b = await httpServer(prefix, clock);
    const svc = await b.get('/services/svc');
    expect(svc.status).toBe(200);
    expect(svc.json.last_seen).toBe(svcSeen);
    expect((await b.get('/services/bound')).json.last_seen).toBe(sesSeen);
    expect((await b.get(`/sessions/${ses.id}`)).json.last_seen).toBe(sesSeen);
    const list = (await b.get('/services')).json.values as Array<{ id: string; last_seen: number | null }>;
    expect(list.map((s) => [s.id, s.last_seen])).toEqual([
      ['bound', sesSeen],
      ['svc', svcSeen],
    ]);
    // A new-layout beat wins over the legacy one from then on.
    const token = (await a.heartbeatService(T, 'svc', { token: JSON.parse((await raw.get(legacyBeatKey('svc', T, 'svc')))!.value).token })).token;
    expect(token).toBeDefined();
    expect((await b.get('/services/svc')).json.last_seen).toBe(clock.now());
  });

  it('reads no legacy key where no server saw legacy state, until its own expiry pass sees it', async () => {
    const clock = new FakeClock();
    const prefix = uniquePrefix();
    const a = await registry(prefix, clock);
    const raw = await store(prefix);
    await a.createService(T, { id: 'quiet', heartbeat_timeout: 3 });
    // A legacy key nobody has seen yet: B's reads of last_seen do not look for it (the normal path reads one key).
    const seenAt = await oldBeat(raw, keys.beat(T, 'quiet'), legacyBeatKey('svc', T, 'quiet'), clock, 3);
    await a.createService(T, { id: 'fresh', heartbeat_timeout: 3 });
    const b = await httpServer(prefix, clock);
    expect((await b.get('/services/fresh')).status).toBe(200);
    const before = await handled();
    expect((await b.get('/services/quiet')).json.last_seen).toBeNull();
    const quiet = (await handled()) - before;
    expect((await b.get('/services/fresh')).status).toBe(200);
    // The same etcd requests as for a service whose state is at its new key.
    expect(quiet).toBe((await handled()) - before - quiet);
    // Due at its creation deadline: B's expiry pass reads the legacy key, keeps the service, and opens the window.
    clock.advance(3_100);
    await oldBeat(raw, keys.beat(T, 'quiet'), legacyBeatKey('svc', T, 'quiet'), clock, 3);
    const got = await b.get('/services/quiet');
    expect(got.status).toBe(200);
    expect(got.json.last_seen).toBe(clock.now());
    expect(got.json.last_seen).toBeGreaterThan(seenAt);
    // The sighting is stored behind the request (seen() is not awaited on request paths).
    await expect.poll(async () => Number((await raw.get(keys.legacySeen))?.value), { timeout: 10_000 }).toBe(clock.now());
  });

  it('closes the window once no legacy state was seen for two beat-lease TTLs', async () => {
    const clock = new FakeClock();
    const prefix = uniquePrefix();
    const a = await registry(prefix, clock);
    const raw = await store(prefix);
    await a.createService(T, { id: 'late', heartbeat_timeout: 120 });
    // The window: two beat-lease TTLs of a registry opened as these are (reaperGraceMs 0).
    const lease = 2 * beatLeaseMs({ opts: { reaperGraceMs: 0 } } as Ctx);
    // A sighting stored long ago, then a legacy key: a server starting now does not read it.
    await raw.txn([], [{ type: 'put', key: keys.legacySeen, value: String(clock.now() - lease - 1) }]);
    await oldBeat(raw, keys.beat(T, 'late'), legacyBeatKey('svc', T, 'late'), clock, 120);
    const b = await httpServer(prefix, clock);
    expect((await b.get('/services/late')).json.last_seen).toBeNull();
    // Stored within the window: a server starting now reads it.
    await raw.txn([], [{ type: 'put', key: keys.legacySeen, value: String(clock.now() - lease + 60_000) }]);
    const c = await httpServer(prefix, clock);
    expect((await c.get('/services/late')).json.last_seen).toBe(clock.now());
  });
});
