import { getEventListeners } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CheckSpec, ProbeSpec } from '../../src/manifest/model.js';
import { closeHttpProbeAgents } from '../../src/probes/http.js';
import { createProbe, type Probe, type ProbeResult } from '../../src/probes/probe.js';
import { CheckRunner } from '../../src/probes/scheduler.js';
import type { Health, Thresholds } from '../../src/probes/thresholds.js';
import { TtlBoard } from '../../src/probes/ttl.js';
import { Wakeups } from '../../src/probes/wakeups.js';
import { startHttpTarget, startTcpTarget, type HttpTarget } from './targets.js';

const INTERVAL = 50;
const MARGIN = 100;

let http: HttpTarget;
beforeAll(async () => {
  http = await startHttpTarget();
  // Warm up undici (lazy code paths, the pool's first connection) so the
  // timing tests measure the scheduler, not a cold start.
  await createProbe(httpProbe('warm-up'), { timeoutMs: 2000, serviceId: 'svc' }).run(new AbortController().signal);
});
afterAll(async () => {
  await closeHttpProbeAgents();
  await http.close();
});

const runners: CheckRunner[] = [];
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.stop()));
});

const httpProbe = (query: string): ProbeSpec => ({
  kind: 'http',
  url: `${http.url}?${query}`,
  method: 'GET',
  headers: {},
  expectStatus: [[200, 299]],
  bodyContains: null,
  tlsSkipVerify: false,
});

const check = (probe: ProbeSpec, over: Partial<CheckSpec> = {}): CheckSpec => ({
  probe,
  intervalMs: INTERVAL,
  timeoutMs: 1000,
  initialDelayMs: 0,
  rise: 2,
  fall: 3,
  ...over,
});

interface Recorder {
  results: Array<{ r: ProbeResult; t: Thresholds; at: number }>;
  transitions: Array<{ from: Health; to: Health; at: number }>;
  errors: unknown[];
}

/** A started runner whose callbacks are recorded (times in ms since start). */
function startRunner(c: CheckSpec, probe?: Probe, extra: { random?: () => number; signal?: AbortSignal } = {}): { runner: CheckRunner; rec: Recorder } {
  const rec: Recorder = { results: [], transitions: [], errors: [] };
  const t0 = performance.now();
  const runner = new CheckRunner({
    serviceId: 'svc',
    check: c,
    probe: probe ?? createProbe(c.probe, { timeoutMs: c.timeoutMs, serviceId: 'svc' }),
    random: extra.random ?? (() => 0.5),
    onResult: (r, t) => rec.results.push({ r, t, at: performance.now() - t0 }),
    onTransition: (from, to) => rec.transitions.push({ from, to, at: performance.now() - t0 }),
    onError: (err) => rec.errors.push(err),
  });
  runners.push(runner);
  runner.start(extra.signal);
  return { runner, rec };
}

/** A probe we own (a seam, not the network): records start times, takes `ms`, answers `ok()`. */
function timedProbe(ms: number, ok: () => boolean = () => true): Probe & { starts: number[] } {
  const starts: number[] = [];
  return {
    starts,
    run: (signal) =>
      new Promise<ProbeResult>((resolve, reject) => {
        starts.push(performance.now());
        const timer = setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          resolve({ ok: ok(), output: 'fake', durationMs: ms });
        }, ms);
        const onAbort = (): void => {
          clearTimeout(timer);
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }),
  };
}

/** The median gap between consecutive start times. */
function medianSpacing(starts: number[]): number {
  const gaps = starts.slice(1).map((t, i) => t - starts[i]!).sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)]!;
}

describe('CheckRunner: thresholds over real probes', () => {
  it(`becomes healthy within interval x rise + ${MARGIN} ms`, async () => {
    const c = check(httpProbe('status=200'), { rise: 2 });
    const { runner, rec } = startRunner(c);
    await vi.waitFor(() => expect(runner.thresholds.health).toBe('healthy'), { timeout: INTERVAL * 2 + MARGIN, interval: 5 });
    expect(rec.transitions).toEqual([{ from: 'unknown', to: 'healthy', at: expect.any(Number) }]);
    expect(rec.transitions[0]!.at).toBeLessThan(INTERVAL * 2 + MARGIN);
    expect(rec.results.map((x) => x.r.ok)).toEqual([true, true]);
  });

  it(`becomes unhealthy within interval x fall + ${MARGIN} ms, from unknown only after fall failures`, async () => {
    const c = check(httpProbe('status=503'), { fall: 3 });
    const { runner, rec } = startRunner(c);
    await vi.waitFor(() => expect(runner.thresholds.health).toBe('unhealthy'), { timeout: INTERVAL * 3 + MARGIN, interval: 5 });
    expect(rec.results.map((x) => x.t.health)).toEqual(['unknown', 'unknown', 'unhealthy']);
    expect(rec.transitions.map((x) => `${x.from}->${x.to}`)).toEqual(['unknown->unhealthy']);
    expect(runner.lastResult?.output).toMatch(/^HTTP 503/);
  });

  it('goes from healthy to unhealthy when the target goes away', async () => {
    const tcp = await startTcpTarget();
    const { runner, rec } = startRunner(check({ kind: 'tcp', host: '127.0.0.1', port: tcp.port }, { rise: 1, fall: 2 }));
    await vi.waitFor(() => expect(runner.thresholds.health).toBe('healthy'), { timeout: INTERVAL + MARGIN, interval: 5 });
    await tcp.close();
    const closedAt = rec.results.length;
    await vi.waitFor(() => expect(runner.thresholds.health).toBe('unhealthy'), { timeout: INTERVAL * 2 + MARGIN, interval: 5 });
    expect(rec.results.slice(closedAt).every((x) => !x.r.ok)).toBe(true);
    expect(rec.transitions.map((x) => x.to)).toEqual(['healthy', 'unhealthy']);
  });
});

describe('CheckRunner: timing', () => {
  // Timers fire late under load, so these compare the median spacing with
  // the midpoint between the right schedule and the wrong one.
  it('does not drift: runs start one interval after the previous START', async () => {
    const probe = timedProbe(60);
    startRunner(check(httpProbe(''), { intervalMs: 100 }), probe);
    await vi.waitFor(() => expect(probe.starts.length).toBeGreaterThanOrEqual(6), { timeout: 3000, interval: 10 });
    const spacing = medianSpacing(probe.starts);
    expect(spacing).toBeGreaterThanOrEqual(100 - 2);
    expect(spacing).toBeLessThan(130); // measured from the END of each run it would be 160
  });

  it('starts the next run right after one that took longer than the interval', async () => {
    const probe = timedProbe(120);
    startRunner(check(httpProbe(''), { intervalMs: INTERVAL }), probe);
    await vi.waitFor(() => expect(probe.starts.length).toBeGreaterThanOrEqual(5), { timeout: 3000, interval: 10 });
    const spacing = medianSpacing(probe.starts);
    expect(spacing).toBeGreaterThanOrEqual(120 - 2);
    expect(spacing).toBeLessThan(145); // a full interval after the end would be 170
  });

  // Timers never fire early, so the lower bounds are exact; the upper bounds
  // leave room for a loaded machine and still tell the rules apart.
  it('delays the first run by initial_delay plus jitter of up to 10% of the interval', async () => {
    const t0 = performance.now();
    const probe = timedProbe(1);
    startRunner(check(httpProbe(''), { intervalMs: 2000, initialDelayMs: 100 }), probe, { random: () => 0.5 });
    await vi.waitFor(() => expect(probe.starts.length).toBe(1), { timeout: 2000, interval: 5 });
    expect(probe.starts[0]! - t0).toBeGreaterThanOrEqual(200 - 1); // 100 + 0.5 x 10% x 2000
    expect(probe.starts[0]! - t0).toBeLessThan(200 + 150);
  });

  it('caps the first-run jitter at 1 s', async () => {
    const t0 = performance.now();
    const probe = timedProbe(1);
    // 10% of 100 s is 10 s, capped at 1 s: x 0.1 = 100 ms (uncapped: 1000 ms).
    startRunner(check(httpProbe(''), { intervalMs: 100_000 }), probe, { random: () => 0.1 });
    await vi.waitFor(() => expect(probe.starts.length).toBe(1), { timeout: 2000, interval: 5 });
    expect(probe.starts[0]! - t0).toBeGreaterThanOrEqual(100 - 1);
    expect(probe.starts[0]! - t0).toBeLessThan(100 + 300);
  });
});

describe('CheckRunner: lifecycle', () => {
  it('stop() aborts an in-flight slow probe and waits for it', async () => {
    const before = http.seen.length;
    const abortedBefore = http.aborted;
    const signal = new AbortController().signal;
    const { runner, rec } = startRunner(check(httpProbe('delay=30000'), { timeoutMs: 10_000 }), undefined, { signal });
    await vi.waitFor(() => expect(http.seen.length).toBe(before + 1), { timeout: 1000, interval: 5 });
    const t0 = performance.now();
    await runner.stop();
    expect(performance.now() - t0).toBeLessThan(500);
    expect(runner.running).toBe(false);
    expect(rec.results).toEqual([]); // an aborted run is not a result
    await vi.waitFor(() => expect(http.aborted).toBe(abortedBefore + 1), { timeout: 1000 });
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    await runner.stop(); // idempotent
  });

  it('stops when the start signal aborts, and runs no more', async () => {
    const ac = new AbortController();
    const probe = timedProbe(1);
    const { runner } = startRunner(check(httpProbe('')), probe, { signal: ac.signal });
    await vi.waitFor(() => expect(probe.starts.length).toBeGreaterThanOrEqual(2), { timeout: 1000, interval: 5 });
    ac.abort();
    expect(runner.running).toBe(false);
    const count = probe.starts.length;
    await expect.poll(() => probe.starts.length, { timeout: INTERVAL * 3, interval: INTERVAL }).toBe(count);
  });

  it('does nothing when started with an aborted signal; start is idempotent', async () => {
    const probe = timedProbe(1);
    const { runner } = startRunner(check(httpProbe('')), probe, { signal: AbortSignal.abort() });
    expect(runner.running).toBe(false);
    runner.start();
    runner.start();
    await vi.waitFor(() => expect(probe.starts.length).toBeGreaterThanOrEqual(3), { timeout: 1000, interval: 5 });
    const s = probe.starts;
    expect(s[2]! - s[1]!).toBeGreaterThanOrEqual(INTERVAL - 2); // one loop, not two
  });
});

describe('CheckRunner: runNow', () => {
  it('reflects a TTL report at once instead of at the next (60 s) interval', async () => {
    const board = new TtlBoard();
    const c = check({ kind: 'ttl', ttlMs: 30_000 }, { intervalMs: 60_000, rise: 1, fall: 1 });
    const { runner } = startRunner(c, createProbe(c.probe, { timeoutMs: 1000, ttl: board, serviceId: 'svc' }), { random: () => 0 });
    board.onReport((id) => id === 'svc' && runner.runNow());
    await vi.waitFor(() => expect(runner.thresholds.health).toBe('unhealthy'), { timeout: 500, interval: 5 });
    expect(runner.lastResult?.output).toBe('no report yet');
    board.report('svc', 'pass');
    await vi.waitFor(() => expect(runner.thresholds.health).toBe('healthy'), { timeout: 500, interval: 5 });
    board.report('svc', 'fail', 'backlog too long');
    await vi.waitFor(() => expect(runner.lastResult?.output).toBe('backlog too long'), { timeout: 500, interval: 5 });
  });

  it('coalesces requests made during a run into one run right after it', async () => {
    const probe = timedProbe(40);
    const { runner } = startRunner(check(httpProbe(''), { intervalMs: 60_000 }), probe, { random: () => 0 });
    await vi.waitFor(() => expect(probe.starts.length).toBe(1), { timeout: 500, interval: 2 });
    runner.runNow();
    runner.runNow();
    runner.runNow();
    await vi.waitFor(() => expect(probe.starts.length).toBe(2), { timeout: 500, interval: 2 });
    expect(probe.starts[1]! - probe.starts[0]!).toBeLessThan(40 + 200); // not the 60 s interval
    await expect.poll(() => probe.starts.length, { timeout: 150, interval: 50 }).toBe(2);
  });

  it('is a no-op on a stopped runner', async () => {
    const probe = timedProbe(1);
    const { runner } = startRunner(check(httpProbe(''), { intervalMs: 60_000, initialDelayMs: 60_000 }), probe);
    await runner.stop();
    runner.runNow();
    await expect.poll(() => probe.starts.length, { timeout: 100, interval: 50 }).toBe(0);
  });
});

describe('CheckRunner: faults in callbacks and probes', () => {
  it('keeps running when callbacks throw, and reports through onError', async () => {
    const rec: unknown[] = [];
    let results = 0;
    const probe = timedProbe(1, () => results % 2 === 0);
    const runner = new CheckRunner({
      serviceId: 'svc',
      check: check(httpProbe(''), { rise: 1, fall: 1 }),
      probe,
      onResult: () => {
        results++;
        throw new Error('onResult broke');
      },
      onTransition: () => {
        throw new Error('onTransition broke');
      },
      onError: (err) => rec.push(err),
    });
    runners.push(runner);
    runner.start();
    await vi.waitFor(() => expect(results).toBeGreaterThanOrEqual(4), { timeout: 2000, interval: 5 });
    expect(rec.map((e) => (e as Error).message)).toContain('onTransition broke');
    expect(rec.map((e) => (e as Error).message)).toContain('onResult broke');
  });

  it('turns a probe that breaks its contract (rejects) into an ok:false result', async () => {
    const probe: Probe = { run: () => Promise.reject(new Error('probe bug')) };
    const { runner, rec } = startRunner(check(httpProbe(''), { fall: 1 }), probe);
    await vi.waitFor(() => expect(runner.thresholds.health).toBe('unhealthy'), { timeout: 2000, interval: 5 });
    expect(rec.results[0]?.r).toMatchObject({ ok: false, output: 'probe bug' });
  });
});

describe('CheckRunner: shared wakeups', () => {
  /** Two runners of a 1 s interval on one wheel, the second started `gapMs` after the first; resolves with their probes' start times. */
  async function pair(gapMs: number): Promise<{ a: number[]; b: number[] }> {
    const wakeups = new Wakeups();
    const make = (probe: Probe): CheckRunner => {
      const runner = new CheckRunner({
        serviceId: 'svc',
        check: check(httpProbe(''), { intervalMs: 1000, rise: 1 }),
        probe,
        random: () => 0, // first run at once, second right after it, then one interval apart
        wakeups,
        onResult: () => {},
        onTransition: () => {},
      });
      runners.push(runner);
      return runner;
    };
    const a = timedProbe(1);
    const b = timedProbe(1);
    make(a).start();
    await new Promise((r) => setTimeout(r, gapMs));
    make(b).start();
    await vi.waitFor(() => expect(b.starts.length).toBeGreaterThanOrEqual(3), { timeout: 3000, interval: 5 });
    return { a: a.starts, b: b.starts };
  }

  // Timers may fire late on a busy machine; each test asserts what must hold either way: a run
  // starts at most 10% early, and shares the other runner's wakeup exactly when that wakeup came
  // within its 10% (its second run started at b[1], so its third is due at b[1] + 1000).
  const sharesWindow = (a: number[], b: number[]): boolean => a[2]! >= b[1]! + 1000 - 100;

  it('starts a run of a >= 1 s interval up to 10% early, together with another runner due then', async () => {
    const { a, b } = await pair(40);
    expect(b[2]! - b[1]!).toBeGreaterThanOrEqual(1000 - 100 - 2);
    // a's wakeup is due ~40 ms before b's third run: inside b's 100 ms (unless the 40 ms sleep overran by 60).
    if (sharesWindow(a, b)) expect(Math.abs(b[2]! - a[2]!)).toBeLessThan(5);
    else expect(b[2]! - b[1]!).toBeGreaterThanOrEqual(1000 - 2);
  });

  it('does not start a run earlier than its 10%', async () => {
    const { a, b } = await pair(400);
    // a's wakeup comes ~400 ms before b's third run is due: outside its 100 ms, so b waits for its own
    // time (unless a's timer fired 300 ms late and landed inside b's window, when they share it).
    if (sharesWindow(a, b)) expect(Math.abs(b[2]! - a[2]!)).toBeLessThan(5);
    else expect(b[2]! - b[1]!).toBeGreaterThanOrEqual(1000 - 2);
  });
});
