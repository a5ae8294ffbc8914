import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { isFault } from '../../src/registry/faults.js';
import type { RegistryEvent } from '../../src/registry/types.js';
import { startEtcd, startEtcdRegistry, uniquePrefix, type EtcdCluster } from '../helpers/etcd.js';
import { spawnTether, type Proc, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * Registry servers over etcd, as processes: two `tether registry --store
 * etcd` servers over one etcd share everything; an agent pointed at both
 * loses nothing when either dies; etcd loss answers 503 quickly and service
 * comes back with etcd; a 3-member cluster survives losing a member.
 */

const TENANT = 'etcd-it';
let etcd: EtcdCluster;
let tmp: TempDir;
const procs: Proc[] = [];
const clients: HttpRegistry[] = [];

beforeAll(async () => {
  etcd = await startEtcd(1);
  tmp = await createTempDir('etcd-it');
}, 30_000);

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(procs.splice(0).map((p) => p.stop('SIGKILL')));
});

afterAll(async () => {
  await etcd?.stop();
  await tmp?.remove();
});

async function server(endpoints: string[], prefix: string, port = 0): Promise<RegistryProc> {
  const r = await startEtcdRegistry(endpoints, prefix, port);
  procs.push(r);
  return r;
}

function client(r: RegistryProc, timeoutMs = 5_000): HttpRegistry {
  const c = new HttpRegistry({ url: r.url, timeoutMs });
  clients.push(c);
  return c;
}

async function events(c: HttpRegistry): Promise<RegistryEvent[]> {
  return (await c.listEvents(TENANT, { limit: 1000 })).values;
}

describe('two registry servers over one etcd', () => {
  it('a service created through one is heartbeated through the other; config and long-polls cross too', async () => {
    const prefix = uniquePrefix();
    const [a, b] = [await server(etcd.endpoints, prefix), await server(etcd.endpoints, prefix)];
    const [ca, cb] = [client(a), client(b)];

    const { token } = await ca.createService(TENANT, { id: 'web-1', tags: ['web'], metadata: {}, heartbeat_timeout: 10 });
    const next = await cb.heartbeatService(TENANT, 'web-1', { token });
    expect(next.token).not.toBe(token);
    // The chain is shared: the consumed token is refused by either server, the new one accepted by the first.
    await expect(ca.heartbeatService(TENANT, 'web-1', { token })).rejects.toSatisfy((e: unknown) => isFault(e, 'notFoundError'));
    await ca.heartbeatService(TENANT, 'web-1', { token: next.token });
    expect((await cb.getService(TENANT, 'web-1')).last_seen).not.toBeNull();

    await ca.setConfig(TENANT, '/app/database/url', { value: 'postgres://one' });
    expect((await cb.getConfig(TENANT, '/app/database/url')).value).toBe('postgres://one');

    // A long-poll held by b is woken by a write through a.
    const marker = (await events(cb)).at(-1)!.id;
    const t0 = Date.now();
    const polled = cb.listEvents(TENANT, { marker, wait: 20 });
    await new Promise((r) => setTimeout(r, 200));
    await ca.setConfig(TENANT, '/app/database/url', { value: 'postgres://two' });
    const page = await polled;
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(page.values.map((e) => e.type)).toContain('configuration_value.update');
  });

  it('an expiry seen by both servers writes exactly one service.timeout event', async () => {
    const prefix = uniquePrefix();
    const [a, b] = [await server(etcd.endpoints, prefix), await server(etcd.endpoints, prefix)];
    const [ca, cb] = [client(a), client(b)];
    await ca.createService(TENANT, { id: 'short', tags: [], metadata: {}, heartbeat_timeout: 3 });
    await cb.getService(TENANT, 'short');
    // 3 s timeout + the reapers' 5 s grace; both servers sweep every second.
    await vi.waitFor(
      async () => {
        const gone = await cb.getService(TENANT, 'short').then(
          () => false,
          (e: unknown) => isFault(e, 'notFoundError'),
        );
        expect(gone).toBe(true);
      },
      { timeout: 15_000, interval: 200 },
    );
    await new Promise((r) => setTimeout(r, 1_500)); // both reapers have swept since
    const timeouts = (await events(ca)).filter((e) => e.type === 'service.timeout');
    expect(timeouts).toHaveLength(1);
    expect((await events(cb)).filter((e) => e.type === 'service.timeout')).toEqual(timeouts);
  }, 30_000);

  it('an agent pointed at both loses nothing when either server is killed', async () => {
    const prefix = uniquePrefix();
    const a = await server(etcd.endpoints, prefix);
    const b = await server(etcd.endpoints, prefix);
    const watcher = client(b);
    const manifest = join(tmp.path, `agent-${Date.now()}.yaml`);
    await writeFile(
      manifest,
      [
        'upstream:',
        `  url: [${a.url}/v1.0/${TENANT}, ${b.url}/v1.0/${TENANT}]`,
        '  timeout: 1s',
        'agent:',
        '  listen: 127.0.0.1:0',
        `  state_dir: ${tmp.path}/state-${Date.now()}`,
        '  heartbeat: session',
        '  session_timeout: 3',
        'services:',
        '  - id: api-1',
        '    tags: [api]',
        '  - id: api-2',
        '    tags: [api]',
        '',
      ].join('\n'),
    );
    const agent = spawnTether(['agent', '--config', manifest], { TETHER_LOG_LEVEL: 'debug' });
    procs.push(agent);
    await agent.waitForLog((r) => r.msg === 'agent started');
    const ids = async (c: HttpRegistry) => (await c.listServices(TENANT)).values.map((s) => s.id).sort();
    await vi.waitFor(async () => expect(await ids(watcher)).toEqual(['api-1', 'api-2']), { timeout: 10_000, interval: 50 });
    const joined = await events(watcher);

    // Kill the server the agent uses; it moves to b within one session timeout, and nothing expires.
    a.child.kill('SIGKILL');
    await a.exited;
    await agent.waitForLog((r) => r.msg === 'registry server failed; using the next one', 10_000);
    await new Promise((r) => setTimeout(r, 9_000)); // > session timeout (3 s) + reaper grace (5 s)
    expect(await ids(watcher)).toEqual(['api-1', 'api-2']);

    // Bring a back on its port, then kill b: the agent goes back to a.
    const a2 = await server(etcd.endpoints, prefix, a.port);
    b.child.kill('SIGKILL');
    await b.exited;
    const onA = client(a2);
    await new Promise((r) => setTimeout(r, 9_000));
    expect(await ids(onA)).toEqual(['api-1', 'api-2']);
    // Nothing was removed or timed out: the only events are the two joins.
    const all = await events(onA);
    expect(all.filter((e) => e.type !== 'service.join' && !e.type.startsWith('session.'))).toEqual([]);
    expect(all.filter((e) => e.type === 'service.join')).toEqual(joined.filter((e) => e.type === 'service.join'));
  }, 60_000);
});

describe('losing etcd', () => {
  it('answers 503 quickly while etcd is down and serves again once it is back', async () => {
    const own = await startEtcd(1);
    try {
      const r = await server(own.endpoints, uniquePrefix());
      const c = client(r);
      await c.setConfig(TENANT, '/app/mode/flag', { value: 'before' });
      await own.members[0]!.kill();
      const t0 = Date.now();
      const err = await c.setConfig(TENANT, '/app/mode/flag', { value: 'during' }).catch((e: unknown) => e);
      expect(isFault(err, 'systemFailureError')).toBe(true);
      expect(Date.now() - t0).toBeLessThan(3_000);
      const read = await c.getConfig(TENANT, '/app/mode/flag').catch((e: unknown) => e);
      expect(isFault(read, 'systemFailureError')).toBe(true);
      // The operator is told, once, not on every request.
      await r.waitForLog((rec) => rec.msg === 'store unavailable: answering 503');
      expect(r.log.filter((l) => l.includes('store unavailable')).length).toBe(1);

      await own.members[0]!.restart();
      await vi.waitFor(async () => expect((await c.getConfig(TENANT, '/app/mode/flag')).value).toBe('before'), { timeout: 15_000, interval: 200 });
      await c.setConfig(TENANT, '/app/mode/flag', { value: 'after' });
      expect((await c.getConfig(TENANT, '/app/mode/flag')).value).toBe('after');
    } finally {
      await own.stop();
    }
  }, 60_000);
});

describe('a 3-member etcd cluster', () => {
  it('keeps serving the registry with one member killed', async () => {
    const cluster = await startEtcd(3);
    try {
      const r = await server(cluster.endpoints, uniquePrefix());
      const c = client(r);
      const { token } = await c.createService(TENANT, { id: 'db-1', tags: ['db'], metadata: {}, heartbeat_timeout: 30 });
      // Kill the first endpoint: the one the registry server talks to and watches through.
      await cluster.members[0]!.kill();
      let t = token as string;
      await vi.waitFor(
        async () => {
          t = (await c.heartbeatService(TENANT, 'db-1', { token: t })).token;
        },
        { timeout: 15_000, interval: 200 },
      );
      await c.setConfig(TENANT, '/app/cluster/size', { value: '3' });
      expect((await c.getConfig(TENANT, '/app/cluster/size')).value).toBe('3');
      t = (await c.heartbeatService(TENANT, 'db-1', { token: t })).token;
      expect((await c.listServices(TENANT)).values.map((s) => s.id)).toEqual(['db-1']);
      // Long-polls are woken through the watch, which moved to another member.
      const marker = (await events(c)).at(-1)!.id;
      const polled = c.listEvents(TENANT, { marker, wait: 20 });
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      await c.setConfig(TENANT, '/app/cluster/size', { value: '2' });
      const page = await polled;
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(page.values.some((e) => e.type === 'configuration_value.update')).toBe(true);
    } finally {
      await cluster.stop();
    }
  }, 60_000);
});
