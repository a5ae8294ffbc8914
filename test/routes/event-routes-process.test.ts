import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { HttpQueues } from '../../src/client/queues.js';
import type { RegistryEvent } from '../../src/registry/types.js';
import { startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir } from '../helpers/tmp.js';
import { allMessages, feedAfter, summary, waitForMessages } from './support.js';

/**
 * Event routes through a real `tether registry` process (SQLite data dir):
 * the HTTP extension, claiming the delivered messages, a restart, and a
 * SIGKILL in the middle of a burst of events.
 */

interface Rig {
  proc: RegistryProc;
  registry: HttpRegistry;
  queues: HttpQueues;
}

const open: Rig[] = [];
afterEach(async () => {
  for (const r of open.splice(0)) await close(r);
});

async function start(data: string, extra: string[] = []): Promise<Rig> {
  const proc = await startRegistry(data, 0, extra);
  const rig = { proc, registry: new HttpRegistry({ url: proc.url }), queues: new HttpQueues({ url: proc.url }) };
  open.push(rig);
  return rig;
}

async function close(r: Rig, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const i = open.indexOf(r);
  if (i >= 0) open.splice(i, 1);
  await r.registry.close();
  await r.queues.close();
  await r.proc.stop(signal);
}

async function call(url: string, method: string, body?: unknown, token?: string): Promise<{ status: number; json: unknown; location: string | null }> {
  const res = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token === undefined ? {} : { 'x-auth-token': token }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? null : (JSON.parse(text) as unknown), location: res.headers.get('location') };
}

/** Every message body of the queue, claimed through the queues API in batches (then deleted). */
async function claimAll(q: HttpQueues, tenant: string, queue: string, count: number): Promise<RegistryEvent[]> {
  const out: RegistryEvent[] = [];
  await expect
    .poll(
      async () => {
        const claim = await q.claimMessages(tenant, queue, { ttl: 60, grace: 60 }, { limit: 20 });
        for (const m of claim?.messages ?? []) {
          out.push(m.body as RegistryEvent);
          await q.deleteMessage(tenant, queue, m.id, claim?.id);
        }
        return out.length >= count;
      },
      { timeout: 30_000, interval: 50 },
    )
    .toBe(true);
  return out;
}

describe('event routes through a tether registry process', () => {
  it('configured over HTTP; services joining, timing out and config changes arrive once, in order; survives a restart', async () => {
    const dir = await createTempDir('routes');
    let rig = await start(dir.path);
    const t = 'acme';
    const base = `${rig.proc.url}/v1.0/${t}/event-routes`;
    const bad = await call(`${base}/r1`, 'PUT', { queue: 'bad queue' });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ type: 'badRequest', code: 400, message: "Validation error for key 'queue'" });
    expect((await call(`${base}/nope`, 'GET')).json).toMatchObject({ type: 'notFoundError', code: 404 });
    const filter = { queue: 'fleet', types: ['service.join', 'service.timeout', 'configuration_value.update'], service_tags: ['web'], key_prefixes: ['/app/'] };
    const created = await call(`${base}/r1`, 'PUT', filter);
    expect(created.status).toBe(201);
    expect(created.location).toBe(`${base}/r1`);
    expect(created.json).toMatchObject({ ...filter, id: 'r1', ttl: 86_400, delivered: 0 });
    expect((await call(`${base}/r1`, 'PUT', filter)).status).toBe(204);

    await rig.registry.createService(t, { id: 'web-1', tags: ['web'], metadata: {}, heartbeat_timeout: 3 });
    await rig.registry.createService(t, { id: 'db-1', tags: ['db'], metadata: {}, heartbeat_timeout: 60 });
    await rig.registry.setConfig(t, '/app/color', { value: 'blue' });
    await rig.registry.setConfig(t, '/other/color', { value: 'red' });
    const first = await claimAll(rig.queues, t, 'fleet', 3);
    expect(first.map(summary)).toEqual(['service.join web-1', 'configuration_value.update /app/color', 'service.timeout web-1']);

    const listed = await call(base, 'GET');
    expect(listed.json).toMatchObject({ values: [{ id: 'r1', delivered: 3 }], metadata: { count: 1 } });
    const metrics = await (await fetch(`${rig.proc.url}/metrics`)).text();
    expect(metrics).toMatch(/tether_event_route_delivered_total\{route="acme\/r1"\} 3/);

    await close(rig);
    rig = await start(dir.path);
    await rig.registry.setConfig(t, '/app/size', { value: 'L' });
    const after = await claimAll(rig.queues, t, 'fleet', 1);
    expect(after.map(summary)).toEqual(['configuration_value.update /app/size']);
    expect((await allMessages(rig.queues, t, 'fleet')).length).toBe(0);
    expect((await call(`${rig.proc.url}/v1.0/${t}/event-routes/r1`, 'DELETE')).status).toBe(204);
    expect((await call(`${rig.proc.url}/v1.0/${t}/event-routes`, 'GET')).json).toMatchObject({ values: [] });
  }, 90_000);

  it('SIGKILL in the middle of a burst: after a restart the queue holds the feed, each event once, in order', async () => {
    const dir = await createTempDir('routes-kill');
    let rig = await start(dir.path);
    const t = 'burst';
    expect((await call(`${rig.proc.url}/v1.0/${t}/event-routes/all`, 'PUT', { queue: 'q' })).status).toBe(201);
    const start0 = ((await call(`${rig.proc.url}/v1.0/${t}/event-routes/all`, 'GET')).json as { last_event: string | null }).last_event;
    // Writers keep going until the kill; some of their last writes may or may not have committed: the feed decides.
    let stop = false;
    const writer = async (lane: number): Promise<void> => {
      for (let i = 0; !stop; i++) await rig.registry.setConfig(t, `key-${lane}-${i}`, { value: 'v' }).catch(() => (stop = true));
    };
    const writers = [0, 1, 2, 3].map(writer);
    await waitForMessages(rig.queues, t, 'q', 40);
    await close(rig, 'SIGKILL');
    stop = true;
    await Promise.all(writers);
    rig = await start(dir.path);
    const feed = (await feedAfter(rig.registry, t, start0)).map((e) => e.id);
    expect(feed.length).toBeGreaterThan(40);
    const got = await waitForMessages(rig.queues, t, 'q', feed.length);
    expect(got.map((e) => e.id)).toEqual(feed);
  }, 90_000);

  it('the registry auth applies: a tenant token manages only its own tenant routes', async () => {
    const dir = await createTempDir('routes-auth');
    const auth = join(dir.path, 'auth.yaml');
    await writeFile(auth, 'tokens:\n  - {token: tok-a, tenant: ta}\n  - {token: tok-b, tenant: tb}\n');
    const rig = await start(join(dir.path, 'data'), ['--auth-file', auth]);
    const url = `${rig.proc.url}/v1.0/ta/event-routes/r`;
    expect((await call(url, 'PUT', { queue: 'q' })).status).toBe(401);
    expect((await call(url, 'PUT', { queue: 'q' }, 'tok-b')).status).toBe(401);
    expect((await call(`${rig.proc.url}/v1.0/ta/event-routes`, 'GET', undefined, 'tok-b')).status).toBe(401);
    expect((await call(url, 'PUT', { queue: 'q' }, 'tok-a')).status).toBe(201);
    expect((await call(url, 'GET', undefined, 'tok-a')).json).toMatchObject({ id: 'r', queue: 'q' });
  }, 60_000);
});
