import { systemClock, type Clock } from '../lib/clock.js';
import type { CheckSpec } from '../manifest/model.js';
import { describeError } from './attempt.js';
import type { Probe, ProbeResult } from './probe.js';
import { initialThresholds, step, type Health, type Thresholds } from './thresholds.js';
import { sharedWakeups, type Wakeup, type Wakeups } from './wakeups.js';

/** The first run is delayed by up to 10% of the interval, at most this much. */
export const MAX_FIRST_JITTER_MS = 1000;

/**
 * A regular run (interval >= 1 s) may start this fraction of the interval
 * early, at most EARLY_MAX_MS, to share a wakeup with other runs (wakeups.ts).
 * First runs, runs on request and shorter intervals start on time.
 * Each wakeup costs more than the probes it runs, so fewer, fuller wakeups
 * are cheaper (figures: bench/README.md, "Figures behind design choices").
 */
export const EARLY_FRACTION = 0.1;
export const EARLY_MAX_MS = 1000;

export interface CheckRunnerOptions {
  serviceId: string;
  check: CheckSpec;
  probe: Probe;
  /** Measures time between runs; the system clock by default. */
  clock?: Clock | undefined;
  /** Uniform [0, 1) for the first-run jitter; injectable for tests. */
  random?: (() => number) | undefined;
  /** The timer wheel the runs are scheduled on; the process's shared one by default. */
  wakeups?: Wakeups | undefined;
  /** After every run, with the thresholds it produced. */
  onResult: (result: ProbeResult, thresholds: Thresholds) => void;
  /** When health changes, after `onResult`. */
  onTransition: (from: Health, to: Health, result: ProbeResult) => void;
  /** Receives what a callback threw; the loop goes on either way. */
  onError?: ((err: unknown) => void) | undefined;
}

/**
 * Runs one service's probe loop: the only loop, for every probe kind.
 *
 * The first run comes `initialDelayMs` plus a jitter of up to 10% of the
 * interval (capped at 1 s) after `start`, so many services started together
 * do not probe in lockstep; the second run comes at a random point within one
 * interval (spreading many services over the interval); later runs start
 * `intervalMs` after the START of the previous one (no drift), or right after
 * it when it took longer. With an interval of 1 s or more, a later run may
 * start up to 10% of it (at most 1 s) early, with other services' runs
 * due then: one wakeup for several probes instead of one each.
 */
export class CheckRunner {
  readonly serviceId: string;
  private readonly check: CheckSpec;
  private readonly probe: Probe;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly wakeups: Wakeups;
  private readonly opts: CheckRunnerOptions;
  /** Set after the first run's random re-phase (see nextDelay). */
  private rephased = false;
  private state: Thresholds = initialThresholds();
  private last: ProbeResult | undefined;
  /** Between start() and stop(). */
  private active = false;
  /**
   * Aborted by stop(); its signal goes to every run of this loop. Made at the
   * loop's first run (or by start(signal)), not in start(): an AbortSignal
   * is not free to make,
   * and 500 services start in one synchronous apply on the way to the first
   * registration, while their first runs are spread over up to a second.
   */
  private ac: AbortController | undefined;
  private timer: Wakeup | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private busy = false;
  private rerun = false;

  constructor(opts: CheckRunnerOptions) {
    this.serviceId = opts.serviceId;
    this.check = opts.check;
    this.probe = opts.probe;
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.wakeups = opts.wakeups ?? sharedWakeups;
    this.opts = opts;
  }

  /** The current rise/fall state (health `unknown` before the first verdict). */
  get thresholds(): Thresholds {
    return this.state;
  }

  /** The last probe result, or undefined before the first run. */
  get lastResult(): ProbeResult | undefined {
    return this.last;
  }

  get running(): boolean {
    return this.active;
  }

  /**
   * Starts the loop (see the class comment for the timing). Idempotent while
   * running; does nothing when `signal` is already aborted. When `signal`
   * aborts, the loop stops as with `stop()`. Thresholds survive a restart.
   */
  start(signal?: AbortSignal): void {
    if (this.active || signal?.aborted) return;
    this.active = true;
    this.ac = undefined; // a stopped loop's controller stays aborted
    this.rerun = false;
    // Removed when the loop stops (ac aborts), whoever stops it.
    signal?.addEventListener('abort', () => void this.stop(), { once: true, signal: this.controller().signal });
    const jitter = this.random() * Math.min(this.check.intervalMs * 0.1, MAX_FIRST_JITTER_MS);
    this.schedule(this.check.initialDelayMs + jitter);
  }

  /**
   * Stops the loop: clears the timer, aborts the in-flight probe and resolves
   * once that run has settled. No callback is called after it resolves. Idempotent.
   */
  async stop(): Promise<void> {
    this.active = false;
    this.ac?.abort();
    this.timer?.cancel();
    this.timer = undefined;
    await this.inFlight;
  }

  /**
   * Runs the probe now (e.g. a TTL report just arrived) instead of at the
   * next tick; the interval restarts from this run. While a run is in flight
   * the request is coalesced into one run right after it. No-op when stopped.
   */
  runNow(): void {
    if (!this.running) return;
    if (this.busy) {
      this.rerun = true;
      return;
    }
    this.schedule(0);
  }

  /** Runs the probe in `ms`, or up to `earlyMs` sooner (see the class comment). */
  private schedule(ms: number, earlyMs = 0): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (!this.active) return;
    // Like the timers it replaces, the wheel does not keep the process alive on its own.
    this.timer = this.wakeups.after(ms, earlyMs, () => {
      this.timer = undefined;
      // The wheel may call a batch it already took out after one of its calls stopped this loop.
      if (!this.active) return;
      this.inFlight = this.tick(this.controller().signal);
    });
  }

  /** This loop's controller, made on first use (see `ac`). */
  private controller(): AbortController {
    this.ac ??= new AbortController();
    return this.ac;
  }

  /** One run, its bookkeeping and the scheduling of the next. Never rejects. */
  private async tick(signal: AbortSignal): Promise<void> {
    const started = this.clock.now();
    // Busy until the next run is scheduled, so a runNow() from a callback is
    // coalesced below instead of being overwritten by the regular schedule.
    this.busy = true;
    try {
      const result = await this.runProbe(signal);
      if (result === undefined || signal.aborted) return;
      this.record(result);
    } finally {
      this.busy = false;
    }
    if (signal.aborted) return; // a callback stopped us
    const rerun = this.rerun;
    this.rerun = false;
    const interval = this.check.intervalMs;
    const delay = rerun ? 0 : this.nextDelay(started);
    // A verdict due to change sooner (a ttl pass expiring) is looked at then, on time.
    const change = this.probe.nextChangeInMs?.();
    if (change !== undefined && change < delay) return this.schedule(change + 1);
    this.schedule(delay, rerun || interval < 1000 ? 0 : Math.min(EARLY_MAX_MS, interval * EARLY_FRACTION));
  }

  /** The probe's result; undefined when aborted. A probe that breaks its contract and rejects yields ok:false. */
  private async runProbe(signal: AbortSignal): Promise<ProbeResult | undefined> {
    const started = this.clock.now();
    try {
      return await this.probe.run(signal);
    } catch (err) {
      if (signal.aborted) return undefined;
      return { ok: false, output: describeError(err), durationMs: this.clock.now() - started };
    }
  }

  private record(result: ProbeResult): void {
    const from = this.state.health;
    const fall = this.probe.failsAtOnce ? 1 : this.check.fall;
    const { state, changed } = step(this.state, result.ok, { rise: this.check.rise, fall });
    this.state = state;
    this.last = result;
    this.guard(() => this.opts.onResult(result, state));
    if (changed) this.guard(() => this.opts.onTransition(from, state.health, result));
  }

  /**
   * Time until the next run: one interval after `started`, kept within [0,
   * interval] should the clock jump. After the very first run, a random point
   * within one interval instead: services started together then probe spread
   * over the interval, not in one burst per interval (the first run itself
   * stays prompt, so registration at start is not delayed).
   */
  private nextDelay(started: number): number {
    const interval = this.check.intervalMs;
    if (!this.rephased) {
      this.rephased = true;
      return Math.round(this.random() * interval);
    }
    return Math.min(interval, Math.max(0, interval - (this.clock.now() - started)));
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      try {
        this.opts.onError?.(err);
      } catch {
        // The error reporter failed too; the loop still must not die.
      }
    }
  }
}
