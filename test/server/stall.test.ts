import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * Issue 19 item 4: a real `tether registry` paused 15 s with SIGSTOP does not
 * expire the 8 sessions of 6 s whose heartbeats it could not hear; a session
 * whose client really stopped still expires once the server has run its ttl.
 */

let tmp: TempDir;
let registry: RegistryProc;

beforeAll(async () => {
  tmp = await createTempDir('stall');
  registry = await startRegistry(join(tmp.path, 'data'));
});
afterAll(async () => {
  registry.child.kill('SIGCONT');
  await registry.stop();
  await tmp.remove();
});

const TENANT = 'stall-t1';

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${registry.url}/v1.0/${TENANT}${path}`, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

async function createSession(): Promise<{ id: string; token: string }> {
  const r = await call('POST', '/sessions', { heartbeat_timeout: 6 });
  expect(r.status).toBe(201);
  return r.body as { id: string; token: string };
}

/** Heartbeats every 2 s, one at a time (a beat sent during the stall waits in the socket); records every status. */
function heartbeatLoop(session: { id: string; token: string }, stop: AbortSignal, statuses: number[]): Promise<void> {
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

describe('a stalled server (SIGSTOP 15 s)', () => {
  it('expires none of the sessions heartbeated through the stall, and still expires the one that stopped', async () => {
    const live = await Promise.all(Array.from({ length: 8 }, () => createSession()));
    const stop = new AbortController();
    const statuses = live.map(() => [] as number[]);
    const loops = live.map((s, i) => heartbeatLoop(s, stop.signal, statuses[i] as number[]));
    // Its client stops now: it was heard once, at its creation.
    const dead = await createSession();
    await new Promise((resolve) => setTimeout(resolve, 1000));

    registry.child.kill('SIGSTOP');
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    registry.child.kill('SIGCONT');
    const resumedAt = Date.now();

    // The server has run again for a moment: every session is still there, the stopped one too (its ttl has not run out).
    await expect.poll(async () => (await call('GET', '/sessions/' + (live[0] as { id: string }).id)).status, { timeout: 10_000 }).toBe(200);
    expect((await call('GET', `/sessions/${dead.id}`)).status).toBe(200);
    await registry.waitForLog((r) => r.msg === 'server stalled: deadlines extended by the stall', 10_000);

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
  }, 90_000);
});
