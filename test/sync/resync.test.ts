import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import type { ServiceSpec } from '../../src/manifest/model.js';
import { AgentMetrics } from '../../src/observability/metrics.js';
import { isFault } from '../../src/registry/faults.js';
import type { Registry } from '../../src/registry/registry.js';
import { LocalState } from '../../src/sync/local-state.js';
import { resyncRound, type ResyncOptions } from '../../src/sync/resync.js';
import { Syncer } from '../../src/sync/syncer.js';
import { spawnTether, startRegistry, type Proc, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * The resync checks only the agent's own services, one `GET /services/{id}`
 * each, against a real `tether registry` process whose access log (one JSON
 * line per request: method, route template, tenant) counts what it was sent.
 */

const ITEM = '/v1.0/{tenant}/services/{id}';
const LIST = '/v1.0/{tenant}/services';

let tmp: TempDir;
let registry: RegistryProc;
let client: HttpRegistry;
let accessLog: string;
const syncers: Syncer[] = [];
const procs: Proc[] = [];
let seq = 0;

beforeAll(async () => {
  tmp = await createTempDir('resync');
  accessLog = join(tmp.path, 'access.jsonl');
  registry = await startRegistry(join(tmp.path, 'registry'), 0, ['--limits', 'service=5000', '--access-log', accessLog]);
  client = new HttpRegistry({ url: registry.url });
});

afterEach(async () => {
  await Promise.all(syncers.splice(0).map((s) => s.close(2_000)));
  await Promise.all(procs.splice(0).map((p) => p.stop('SIGKILL')));
});

afterAll(async () => {
  await client?.close();
  await registry?.stop();
  await tmp?.remove();
});

const spec = (id: string, heartbeatTimeoutSec = 15): ServiceSpec => ({
  id,
  tags: [],
  metadata: {},
  heartbeatTimeoutSec,
  onUnhealthy: 'deregister',
  deregisterCriticalAfterMs: null,
  check: null,
  origin: 'test:1',
});

interface Line {
  method: string | null;
  route: string | null;
  tenant: string | null;
}

/**
 * Every access-log line so far. The log is written asynchronously: a
 * request of a tenant of its own is sent last and waited for, so every
 * earlier line is in the file too.
 */
async function accessLines(): Promise<Line[]> {
  const sentinel = `sentinel-${++seq}`;
  await client.getService(sentinel, 'absent-service').catch((err: unknown) => {
    if (!isFault(err, 'notFoundError')) throw err;
  });
  let lines: Line[] = [];
  await expect
    .poll(
      async () => {
        const text = await readFile(accessLog, 'utf8').catch(() => '');
        lines = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line);
        return lines.some((l) => l.tenant === sentinel);
      },
      { timeout: 10_000 },
    )
    .toBe(true);
  return lines;
}

/** Requests of `tenant` by method + route, from the access log. */
async function requests(tenant: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const l of await accessLines()) {
    if (l.tenant !== tenant) continue;
    const key = `${l.method} ${l.route}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

function startSyncer(tenant: string, mode: 'session' | 'service', ids: string[], opts: { intervalMs?: number; heartbeatTimeoutSec?: number; registry?: Registry } = {}): Syncer {
  const syncer = new Syncer({
    registry: opts.registry ?? client,
    tenant,
    mode,
    sessionTimeoutSec: () => opts.heartbeatTimeoutSec ?? 15,
    log: pino({ level: 'silent' }),
    metrics: new AgentMetrics(),
    resyncIntervalMs: () => opts.intervalMs ?? 600_000,
  });
  syncers.push(syncer);
  for (const id of ids) syncer.services.add(spec(id, opts.heartbeatTimeoutSec));
  syncer.start();
  syncer.trigger();
  return syncer;
}

async function registered(tenant: string, id: string): Promise<boolean> {
  return client.getService(tenant, id).then(
    () => true,
    (err: unknown) => {
      if (isFault(err, 'notFoundError')) return false;
      throw err;
    },
  );
}

async function waitRegistered(syncer: Syncer, tenant: string, ids: string[]): Promise<void> {
  await expect.poll(() => [...syncer.services.values()].every((s) => s.registered !== null), { timeout: 15_000 }).toBe(true);
  for (const id of ids) expect(await registered(tenant, id)).toBe(true);
}

describe('resync (Syncer against a real registry)', () => {
  it('registers a service deleted behind its back again within a few resync intervals, with per-service GETs and no list', async () => {
    const tenant = 'resync-deleted';
    const ids = ['web-1', 'web-2', 'web-3'];
    const syncer = startSyncer(tenant, 'session', ids, { intervalMs: 1_000 });
    await waitRegistered(syncer, tenant, ids);
    await client.deleteService(tenant, 'web-2');
    const deletedAt = Date.now();
    expect(await registered(tenant, 'web-2')).toBe(false);
    await expect.poll(() => registered(tenant, 'web-2'), { timeout: 20_000, interval: 100 }).toBe(true);
    // A round lasts at most 1.2 s and checks web-2 by its end; the rest is slack for a loaded machine.
    expect(Date.now() - deletedAt).toBeLessThan(15_000);
    const counts = await requests(tenant);
    expect(counts.get(`GET ${LIST}`) ?? 0).toBe(0);
    expect(counts.get(`GET ${ITEM}`) ?? 0).toBeGreaterThanOrEqual(1);
  });

  it('costs one resync of 3 own services 3 GETs and no list, in a tenant holding 2,000 other services', { timeout: 120_000 }, async () => {
    const tenant = 'resync-crowd';
    const others = Array.from({ length: 2_000 }, (_, i) => `other-${i}`);
    for (let i = 0; i < others.length; i += 50) {
      await Promise.all(others.slice(i, i + 50).map((id) => client.createService(tenant, { id, heartbeat_timeout: 120 })));
    }
    const ids = ['mine-1', 'mine-2', 'mine-3'];
    const syncer = startSyncer(tenant, 'session', ids);
    await waitRegistered(syncer, tenant, ids);
    await syncer.idle();
    const before = await requests(tenant);
    await syncer.resync();
    await syncer.idle();
    const after = await requests(tenant);
    const delta = (key: string): number => (after.get(key) ?? 0) - (before.get(key) ?? 0);
    expect(delta(`GET ${ITEM}`)).toBe(ids.length);
    expect(delta(`GET ${LIST}`)).toBe(0);
    const total = [...after.values()].reduce((a, b) => a + b, 0) - [...before.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(ids.length);
    expect((await client.listServices(tenant, { limit: 1 })).values).toHaveLength(1);
  });

  it('skips a service its own heartbeat confirmed recently (service mode) and checks one a session heartbeat does not prove', { timeout: 60_000 }, async () => {
    const byService = startSyncer('resync-fresh-service', 'service', ['beat-1', 'beat-2'], { heartbeatTimeoutSec: 3 });
    const bySession = startSyncer('resync-fresh-session', 'session', ['sess-1', 'sess-2'], { heartbeatTimeoutSec: 3 });
    await waitRegistered(byService, 'resync-fresh-service', ['beat-1', 'beat-2']);
    await waitRegistered(bySession, 'resync-fresh-session', ['sess-1', 'sess-2']);
    const registeredAt = Date.now();
    // Heartbeats every 1.8 s (3 s × 0.6): once the registrations are 2.5 s old, only the service chains' beats are fresh.
    await expect.poll(() => Date.now() - registeredAt > 2_500 && [...byService.services.values()].every((s) => s.lastHeartbeat !== null && s.lastHeartbeat > registeredAt), { timeout: 20_000 }).toBe(true);
    const gets: string[] = [];
    const round = (syncer: Syncer, tenant: string): Promise<string[]> =>
      resyncRound({ ...optionsOf(syncer, tenant), registry: countingRegistry(gets) }, { spreadMs: 0, freshMs: 2_500 }, new AbortController().signal);
    expect(await round(byService, 'resync-fresh-service')).toEqual([]);
    expect(gets).toEqual([]);
    expect(await round(bySession, 'resync-fresh-session')).toEqual([]);
    expect(gets.sort()).toEqual(['sess-1', 'sess-2']);
  });

  it('does not count a service missing when a registration of it lands while the check is in flight', async () => {
    const tenant = 'resync-race';
    const syncer = startSyncer(tenant, 'session', ['racer']);
    await waitRegistered(syncer, tenant, ['racer']);
    await syncer.idle();
    await client.deleteService(tenant, 'racer');
    const fp = syncer.services.get('racer')?.registered ?? null;
    // The real registry answers 404; before the answer arrives, a pass re-registers the service with the same body.
    const racing: Registry = Object.create(client) as Registry;
    racing.getService = async (t, id, signal) => {
      const reply = client.getService(t, id, signal);
      syncer.services.setRegistered(id, fp, Date.now() + 1);
      return reply;
    };
    const missing = await resyncRound({ ...optionsOf(syncer, tenant), registry: racing }, { spreadMs: 0, freshMs: 0 }, new AbortController().signal);
    expect(missing).toEqual([]);
    expect(syncer.services.get('racer')?.registered).toBe(fp);
    // Without the race, the same 404 is a missing service.
    expect(await resyncRound(optionsOf(syncer, tenant), { spreadMs: 0, freshMs: 0 }, new AbortController().signal)).toEqual(['racer']);
  });

  // Review R9 F4: during an outage a proxy or ingress answers 404 with its own page; only the registry's
  // "Object "Service" with key ... does not exist" proves a service gone, else every one is deleted and re-created.
  it('marks nothing missing on a 404 that is not the registry saying that service does not exist, and reports each as an error', async () => {
    const bodies: Record<string, [string, string]> = {
      a: ['text/html', '<html><body>default backend - 404</body></html>'],
      b: ['application/json', JSON.stringify({ type: 'notFoundError', code: 404, message: 'The page cannot be found.', details: { requested_path: '/x' } })],
      c: ['application/json', JSON.stringify({ type: 'notFoundError', code: 404, message: 'object does not exist', details: 'Object "Service" with key "other" does not exist' })],
    };
    const proxy = createServer((req, res) => {
      const [type, body] = bodies[(req.url ?? '').split('/').pop() ?? ''] ?? ['text/plain', 'no'];
      res.writeHead(404, { 'content-type': type });
      res.end(body);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const behindProxy = new HttpRegistry({ url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` });
    const services = new LocalState();
    for (const id of Object.keys(bodies)) {
      services.add(spec(id));
      services.setRegistered(id, 'fp', Date.now() - 60_000);
    }
    const errors: unknown[] = [];
    try {
      const opts: ResyncOptions = { registry: behindProxy, tenant: 't1', services, onMissing: () => expect.fail('onMissing'), onError: (e) => errors.push(e) };
      expect(await resyncRound(opts, { spreadMs: 0, freshMs: 0 }, new AbortController().signal)).toEqual([]);
      expect([...services.values()].map((s) => s.registered)).toEqual(['fp', 'fp', 'fp']);
      expect(errors.map((e) => isFault(e, 'notFoundError'))).toEqual([true, true, true]);
    } finally {
      await behindProxy.close();
      await new Promise((r) => proxy.close(r));
    }
  });
});

/** A resync's options over `syncer`'s services, reporting nothing. */
function optionsOf(syncer: Syncer, tenant: string): ResyncOptions {
  return { registry: client, tenant, services: syncer.services, onMissing: () => {}, onError: (err) => expect.fail(String(err)) };
}

/** The real client, recording the ids it GETs. */
function countingRegistry(gets: string[]): Registry {
  const r: Registry = Object.create(client) as Registry;
  r.getService = (t, id, signal) => {
    gets.push(id);
    return client.getService(t, id, signal);
  };
  return r;
}

describe('resync (a real agent process)', () => {
  it('registers again, within its resync_interval, a service deleted behind its back in session mode', { timeout: 60_000 }, async () => {
    const tenant = 'resync-agent';
    const config = join(tmp.path, 'agent.yaml');
    await writeFile(
      config,
      `upstream:\n  url: ${registry.url}/v1.0/${tenant}\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${tmp.path}/agent-state\n  resync_interval: 1s\nservices:\n  - id: api\n    heartbeat_timeout: 15\n`,
    );
    const proc = spawnTether(['agent', '--config', config]);
    procs.push(proc);
    await proc.waitForLog((r) => r.msg === 'agent started');
    await expect.poll(() => registered(tenant, 'api'), { timeout: 15_000 }).toBe(true);
    await client.deleteService(tenant, 'api');
    // The default interval (5 m) would leave it missing far beyond this test's deadline.
    await expect.poll(() => registered(tenant, 'api'), { timeout: 15_000, interval: 100 }).toBe(true);
    await proc.waitForLog((r) => r.msg === 'registry lacks a service we registered; registering it again' && r.service === 'api');
    expect((await requests(tenant)).get(`GET ${LIST}`) ?? 0).toBe(0);
  });
});
