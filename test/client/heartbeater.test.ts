import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HeartBeater, SessionHeartBeater, heartbeatIntervalMs } from '../../src/client/heartbeater.js';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { faults } from '../../src/registry/faults.js';
import type { Registry } from '../../src/registry/registry.js';
import { freshTenant, startRegistry, type RunningRegistry } from './registry-server.js';

describe('heartbeatIntervalMs (spec 6.7)', () => {
  it('is timeout x 0.6 below 15 s, without jitter up to 5 s', () => {
    expect(heartbeatIntervalMs(3, () => 0.5)).toBe(1800);
    expect(heartbeatIntervalMs(8, () => 0.5)).toBe(4800);
  });

  it('subtracts 3 s and adds [-3, 1) s of jitter above 5 s', () => {
    expect(heartbeatIntervalMs(30, () => 0)).toBe(24000 - 3000 - 3000);
    expect(heartbeatIntervalMs(30, () => 0.999999)).toBe(Math.round(24000 - 3000 + 999.996));
    expect(heartbeatIntervalMs(120, () => 0.75)).toBe(96000 - 3000);
  });

  it('never goes below 1 s where the jitter rule would reach zero', () => {
    expect(heartbeatIntervalMs(9, () => 0)).toBe(1000);
    expect(heartbeatIntervalMs(10, () => 0)).toBe(1000);
  });
});

/** A Registry whose heartbeats are answered by `beat` (other methods unused). */
function stubRegistry(beat: (token: string, signal?: AbortSignal) => Promise<{ token: string }>): Registry {
  return { heartbeatService: (_t: string, _id: string, body: unknown, signal?: AbortSignal) => beat((body as { token: string }).token, signal) } as unknown as Registry;
}

describe('HeartBeater against a real registry', () => {
  let reg: RunningRegistry;
  let http: HttpRegistry;

  beforeAll(async () => {
    // No reaper grace: a missed deadline is reaped by the next read, so "still alive" means something.
    reg = await startRegistry({ service: { reaperGraceMs: 0, reaperIntervalMs: 200 } });
    http = new HttpRegistry({ url: reg.url });
  });
  afterAll(async () => {
    await http.close();
    await reg.close();
  });

  it('keeps a timeout-3 service alive for more than 6 s', async () => {
    const t = freshTenant();
    const { token } = await http.createService(t, { id: 'alive-1', heartbeat_timeout: 3 });
    const hb = new HeartBeater({ registry: http, tenant: t, serviceId: 'alive-1', token: token as string, timeoutSec: 3 });
    const latencies: number[] = [];
    hb.on('beat', (_token, ms) => latencies.push(ms));
    const started = Date.now();
    hb.start();
    try {
      await vi.waitFor(
        async () => {
          expect(Date.now() - started).toBeGreaterThan(6500);
          await http.getService(t, 'alive-1'); // runs the expiry pass
        },
        { timeout: 10_000, interval: 500 },
      );
    } finally {
      await hb.stop();
    }
    expect(latencies.length).toBeGreaterThanOrEqual(3);
    const events = await http.listEvents(t);
    expect(events.values.map((e) => e.type)).toEqual(['service.join']);
  });

  it('re-creates the service after a 404 and continues with the new token', async () => {
    const t = freshTenant();
    const body = { id: 'phoenix', heartbeat_timeout: 3, tags: ['x'] };
    const { token } = await http.createService(t, body);
    const seen: string[] = [];
    const hb = new HeartBeater({
      registry: http,
      tenant: t,
      serviceId: 'phoenix',
      token: token as string,
      timeoutSec: 3,
      recreate: async (signal) => (await http.createService(t, body, signal)).token as string,
    });
    hb.on('gone', () => seen.push('gone'));
    hb.on('recreated', () => seen.push('recreated'));
    hb.on('beat', () => seen.push('beat'));
    hb.start();
    try {
      await vi.waitFor(() => expect(seen).toContain('beat'), { timeout: 5000 });
      await http.deleteService(t, 'phoenix');
      await vi.waitFor(
        () => {
          expect(seen).toContain('recreated');
          expect(seen.lastIndexOf('beat')).toBeGreaterThan(seen.indexOf('recreated'));
        },
        { timeout: 8000 },
      );
      expect(seen).toContain('gone');
      expect(seen.indexOf('gone')).toBeLessThan(seen.indexOf('recreated'));
      expect((await http.getService(t, 'phoenix')).tags).toEqual(['x']);
    } finally {
      await hb.stop();
    }
  });

  it('stops on a 404 when it cannot re-create', async () => {
    const t = freshTenant();
    const { token } = await http.createService(t, { id: 'mortal', heartbeat_timeout: 3 });
    await http.deleteService(t, 'mortal');
    const hb = new HeartBeater({ registry: http, tenant: t, serviceId: 'mortal', token: token as string, timeoutSec: 3 });
    const gone = new Promise((resolve) => hb.once('gone', resolve));
    hb.start();
    expect(await gone).toMatchObject({ type: 'notFoundError' });
    expect(hb.running).toBe(false);
    await hb.stop();
  });

  it('SessionHeartBeater keeps a session (and its services) alive', async () => {
    const t = freshTenant();
    const s = await http.createSession(t, { heartbeat_timeout: 3 });
    await http.createService(t, { id: 'bound-svc', session_id: s.id });
    const hb = new SessionHeartBeater({ registry: http, tenant: t, sessionId: s.id, token: s.token, timeoutSec: 3 });
    let beats = 0;
    hb.on('beat', () => beats++);
    hb.start();
    try {
      await vi.waitFor(() => expect(beats).toBeGreaterThanOrEqual(2), { timeout: 8000 });
      expect((await http.getService(t, 'bound-svc')).id).toBe('bound-svc');
      expect((await http.getSession(t, s.id)).last_seen).toEqual(expect.any(Number));
    } finally {
      await hb.stop();
    }
  });
});

describe('HeartBeater error handling (stub registry)', () => {
  // A stub has no deadline: timeoutSec 0.1 gives a 60 ms interval, so these tests run fast.
  it('retries other errors after 10 ms, doubling, and resets on success', async () => {
    let calls = 0;
    const times: number[] = [];
    const registry = stubRegistry(async (token) => {
      times.push(Date.now());
      calls += 1;
      if (calls <= 4) throw faults.unavailable();
      return { token: `${token}+` };
    });
    const hb = new HeartBeater({ registry, tenant: 't', serviceId: 's', token: 'tok', timeoutSec: 0.1 });
    const errors: unknown[] = [];
    hb.on('error', (err) => errors.push(err));
    const beat = new Promise<string>((resolve) => hb.once('beat', resolve));
    hb.start();
    expect(await beat).toBe('tok+');
    await hb.stop();
    expect(errors).toHaveLength(4);
    expect(errors[0]).toMatchObject({ type: 'systemFailureError' });
    // Gaps between retries: 10, 20, 40, 80 ms with equal jitter, so each in [d/2, d)
    // (timers may run late, never early): the fourth is at least 40 ms, far above the first's floor.
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    expect(gaps[0]).toBeGreaterThanOrEqual(4);
    expect(gaps[3]).toBeGreaterThanOrEqual(39);
    expect(gaps[3]).toBeLessThan(1000);
  });

  it('does not throw or leave rejections when nobody listens to errors', async () => {
    let calls = 0;
    const registry = stubRegistry(async () => {
      calls += 1;
      throw new Error('boom');
    });
    const hb = new HeartBeater({ registry, tenant: 't', serviceId: 's', token: 'tok', timeoutSec: 0.1 });
    hb.start();
    await vi.waitFor(() => expect(calls).toBeGreaterThanOrEqual(2), { timeout: 5000 });
    await hb.stop();
  });

  it('stop() aborts the in-flight heartbeat and resolves', async () => {
    let aborted = false;
    let started = false;
    const registry = stubRegistry(
      (_token, signal) =>
        new Promise((_resolve, reject) => {
          started = true;
          signal?.addEventListener('abort', () => {
            aborted = true;
            reject(signal.reason);
          });
        }),
    );
    const hb = new HeartBeater({ registry, tenant: 't', serviceId: 's', token: 'tok', timeoutSec: 0.1 });
    const errors: unknown[] = [];
    hb.on('error', (e) => errors.push(e));
    hb.start();
    await vi.waitFor(() => expect(started).toBe(true), { timeout: 5000 });
    await hb.stop();
    expect(aborted).toBe(true);
    expect(errors).toEqual([]);
    expect(hb.running).toBe(false);
  });
});
