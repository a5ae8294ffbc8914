import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startEtcdRegistry, uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { sampleValue } from './prom-text.js';

/**
 * Issue 19 item 4: a real `tether registry` paused 15 s with SIGSTOP does not
 * expire the 8 sessions of 6 s whose heartbeats it could not hear; a session
 * whose client really stopped still expires once the server has run its ttl.
 * On SQLite and on etcd; and over one etcd, a server that did not stall
 * expires what the stalled one could not hear (the rule is per server).
 */

const procs: RegistryProc[] = [];
const temps: TempDir[] = [];
afterAll(async () => {
  for (const p of procs) {
    p.child.kill('SIGCONT');
    await p.stop();
  }
  for (const t of temps) await t.remove();
});

const getEtcd = useEtcd(1);

function client(url: string, tenant: string) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${url}/v1.0/${tenant}${path}`, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
  };
}

type Call = ReturnType<typeof client>;

async function createSession(call: Call): Promise<{ id: string; token: string }> {
  const r = await call('POST', '/sessions', { heartbeat_timeout: 6 });
  expect(r.status).toBe(201);
  return r.body as { id: string; token: string };
}

/** Heartbeats every 2 s, one at a time (a beat sent during the stall waits in the socket); records every status. */
function heartbeatLoop(call: Call, session: { id: string; token: string }, stop: AbortSignal, statuses: number[]): Promise<void> {
  return (async () => {
    let token = session.token;
    while (!stop.aborted) {
      const r = await call('POST', `/sessions/${session.id}/heartbeat`, { token });
      statuses.push(r.status);
      if (r.status !== 200) return;
      token = r.body.token as string;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  })();
}

async function pause(proc: RegistryProc, ms: number): Promise<number> {
  proc.child.kill('SIGSTOP');
  await new Promise((resolve) => setTimeout(resolve, ms));
  proc.child.kill('SIGCONT');
  return Date.now();
}

async function stallScenario(registry: RegistryProc, tenant: string): Promise<void> {
  const call = client(registry.url, tenant);
  const live = await Promise.all(Array.from({ length: 8 }, () => createSession(call)));
  const stop = new AbortController();
  const statuses = live.map(() => [] as number[]);
  const loops = live.map((s, i) => heartbeatLoop(call, s, stop.signal, statuses[i] as number[]));
  // Its client stops now: it was heard once, at its creation.
  const dead = await createSession(call);
  await new Promise((resolve) => setTimeout(resolve, 1000));

  const resumedAt = await pause(registry, 15_000);

  // The server has run again for a moment: every session is still there, the stopped one too (its ttl has not run out).
  await expect.poll(async () => (await call('GET', `/sessions/${(live[0] as { id: string }).id}`)).status, { timeout: 10_000 }).toBe(200);
  expect((await call('GET', `/sessions/${dead.id}`)).status).toBe(200);
  await registry.waitForLog((r) => r.msg === 'server stalled: deadlines extended by the stall', 10_000);
  const metrics = await (await fetch(`${registry.url}/metrics`)).text();
  expect(sampleValue(metrics, 'tether_server_stalled_seconds_total')).toBeGreaterThanOrEqual(14);

  // ... and it expires once the server has run for its ttl (6 s; the reaper's grace is 5 s more).
  await expect.poll(async () => (await call('GET', `/sessions/${dead.id}`)).status, { timeout: 20_000, interval: 250 }).toBe(404);
  const expiredAfterMs = Date.now() - resumedAt;
  expect(expiredAfterMs).toBeGreaterThanOrEqual(4000);

  stop.abort();
  await Promise.all(loops);
  for (const s of live) expect((await call('GET', `/sessions/${s.id}`)).status).toBe(200);
  // Every heartbeat was answered 200, the ones that waited out the stall included.
  for (const st of statuses) expect(st.every((x) => x === 200) && st.length >= 3).toBe(true);
  const events = await call('GET', '/events');
  const timeouts = (events.body?.values ?? []).filter((e: any) => e.type === 'session.timeout' || e.type === 'service.timeout');
  expect(timeouts.every((e: any) => !live.some((s) => JSON.stringify(e.payload).includes(s.id)))).toBe(true);
  console.log(`stopped session expired ${expiredAfterMs} ms after SIGCONT; live beats per session: ${statuses.map((s) => s.length).join(',')}`);
}

describe('a stalled server (SIGSTOP 15 s)', () => {
  it('SQLite: expires none of the sessions heartbeated through the stall, and still expires the one that stopped', async () => {
    const tmp = await createTempDir('stall');
    temps.push(tmp);
    const registry = await startRegistry(join(tmp.path, 'data'));
    procs.push(registry);
    await stallScenario(registry, 'stall-sqlite');
  }, 90_000);

  it('etcd: the same', async () => {
    const registry = await startEtcdRegistry(getEtcd().endpoints, uniquePrefix());
    procs.push(registry);
    await stallScenario(registry, 'stall-etcd');
  }, 90_000);

  it('two servers over one etcd: the one that kept running expires the sessions the stalled one could not hear', async () => {
    const prefix = uniquePrefix();
    const a = await startEtcdRegistry(getEtcd().endpoints, prefix);
    const b = await startEtcdRegistry(getEtcd().endpoints, prefix);
    procs.push(a, b);
    const viaA = client(a.url, 'stall-pair');
    const viaB = client(b.url, 'stall-pair');
    const session = await createSession(viaA);
    const stop = new AbortController();
    const statuses: number[] = [];
    const loop = heartbeatLoop(viaA, session, stop.signal, statuses);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    a.child.kill('SIGSTOP');
    const t0 = Date.now();
    // B heard nothing for 6 s (+ its reaper's 5 s grace): the session is gone there.
    await expect.poll(async () => (await viaB('GET', `/sessions/${session.id}`)).status, { timeout: 20_000, interval: 500 }).toBe(404);
    const goneAfter = Date.now() - t0;
    a.child.kill('SIGCONT');
    // A's queued heartbeat now finds its chain gone.
    await loop;
    stop.abort();
    expect(statuses.at(-1)).toBe(404);
    console.log(`over one etcd, the running server expired the stalled server's session ${goneAfter} ms into the stall`);
  }, 90_000);
});
