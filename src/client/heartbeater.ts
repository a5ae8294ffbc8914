import { EventEmitter } from 'node:events';
import { systemClock, type Clock } from '../lib/clock.js';
import { isFault } from '../registry/faults.js';
import type { Registry } from '../registry/registry.js';
import { Backoff } from '../lib/backoff.js';

/**
 * Keeps a heartbeat token chain alive (spec 6.7). The loop is written once in
 * `TokenChainKeeper`, parametrised by the heartbeat call; `HeartBeater`
 * (one service) and `SessionHeartBeater` (one session, hence all its
 * services) only supply that call.
 */

/** Events, with their arguments. */
export interface KeeperEvents {
  /** A heartbeat succeeded: the next token and the round trip in ms. */
  beat: [token: string, latencyMs: number];
  /** The registry no longer knows the service/session or token (404). */
  gone: [fault: Error];
  /** `recreate` succeeded; the chain continues with this token. */
  recreated: [token: string];
  /** A heartbeat or recreate failed for another reason; the loop retries after a short backoff. */
  error: [err: unknown];
}

export interface KeeperOptions {
  /** The current token (from create, or from the last heartbeat). */
  token: string;
  /** The heartbeat_timeout, seconds; sets the interval. */
  timeoutSec: number;
  /**
   * Called after a 404 to re-create the object; returns the new initial token.
   * Without it a 404 stops the loop. The signal aborts when the keeper stops.
   */
  recreate?: ((signal: AbortSignal) => Promise<string>) | undefined;
  clock?: Clock | undefined;
  /** Uniform [0, 1) for the jitter; injectable for tests. */
  random?: (() => number) | undefined;
}

/**
 * The interval of spec 6.7, ms: `timeout × 0.6` below 15 s, else `× 0.8`;
 * above 5 s, minus 3 s plus a jitter in [-3, 1) s (the Node client's rule).
 * For timeouts of 9..14 s that rule can reach zero or below, so the result is
 * kept at no less than 1 s (or the base interval, when that is smaller).
 */
export function heartbeatIntervalMs(timeoutSec: number, random: () => number = Math.random): number {
  const base = timeoutSec * (timeoutSec < 15 ? 0.6 : 0.8) * 1000;
  if (base <= 5000) return Math.round(base);
  const jittered = base - 3000 + (random() * 4000 - 3000);
  return Math.round(Math.max(jittered, Math.min(base, 1000)));
}

type BeatFn = (token: string, signal: AbortSignal) => Promise<string>;

/** The shared loop. Use HeartBeater or SessionHeartBeater. */
export class TokenChainKeeper extends EventEmitter<KeeperEvents> {
  private currentToken: string;
  private readonly timeoutSec: number;
  private readonly recreate: ((signal: AbortSignal) => Promise<string>) | undefined;
  private readonly clock: Clock;
  private readonly random: () => number;
  // 10 ms first as the Node client does, doubling to 1 s: a blip costs
  // nothing, an outage is not hammered, and the deadline is still met; jitter
  // keeps many agents from retrying in lockstep after an outage.
  private readonly backoff = new Backoff({ initialMs: 10, maxMs: 1000, jitter: 0.5 });
  private ac: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private mustRecreate = false;

  protected constructor(private readonly beatFn: BeatFn, opts: KeeperOptions) {
    super();
    this.currentToken = opts.token;
    this.timeoutSec = opts.timeoutSec;
    this.recreate = opts.recreate;
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
  }

  /** The token the next heartbeat will send. */
  get token(): string {
    return this.currentToken;
  }

  get running(): boolean {
    return this.ac !== undefined && !this.ac.signal.aborted;
  }

  /**
   * Starts the loop: the first heartbeat goes out one interval from now.
   * Idempotent while running. An optional `signal` stops the loop when it aborts.
   */
  start(signal?: AbortSignal): void {
    if (this.running || signal?.aborted) return;
    const ac = new AbortController();
    this.ac = ac;
    signal?.addEventListener('abort', () => void this.stop(), { once: true, signal: ac.signal });
    this.schedule(heartbeatIntervalMs(this.timeoutSec, this.random));
  }

  /** Stops the loop, aborting the in-flight request; resolves once it has settled. Idempotent. */
  async stop(): Promise<void> {
    this.ac?.abort();
    clearTimeout(this.timer);
    await this.inFlight;
  }

  private schedule(ms: number): void {
    const signal = this.ac?.signal;
    if (!signal || signal.aborted) return;
    this.timer = setTimeout(() => {
      this.inFlight = this.step(signal);
    }, ms);
    // A keep-alive must not hold the process open on its own.
    this.timer.unref();
  }

  /** One heartbeat (or recreate) and the scheduling of the next; never rejects. */
  private async step(signal: AbortSignal): Promise<void> {
    const started = this.clock.now();
    try {
      if (this.mustRecreate) {
        await this.doRecreate(signal);
        return;
      }
      const next = await this.beatFn(this.currentToken, signal);
      // The old token is consumed once the beat succeeded: keep the new one even when stopping.
      this.currentToken = next;
      if (signal.aborted) return;
      this.backoff.reset();
      this.safeEmit('beat', next, this.clock.now() - started);
      this.schedule(heartbeatIntervalMs(this.timeoutSec, this.random));
    } catch (err) {
      if (signal.aborted) return;
      this.onFailure(err);
    }
  }

  private onFailure(err: unknown): void {
    if (isFault(err, 'notFoundError') && !this.mustRecreate) {
      this.safeEmit('gone', err);
      if (this.recreate === undefined) {
        this.ac?.abort();
        return;
      }
      this.mustRecreate = true;
      this.schedule(0);
      return;
    }
    this.safeEmit('error', err);
    this.schedule(this.backoff.next());
  }

  private async doRecreate(signal: AbortSignal): Promise<void> {
    const recreate = this.recreate as (signal: AbortSignal) => Promise<string>;
    const token = await recreate(signal);
    if (signal.aborted) return;
    this.currentToken = token;
    this.mustRecreate = false;
    this.backoff.reset();
    this.safeEmit('recreated', token);
    this.schedule(heartbeatIntervalMs(this.timeoutSec, this.random));
  }

  /**
   * Emits without letting a listener's exception (or an 'error' with no
   * listener, which EventEmitter would throw) break the loop.
   */
  private safeEmit<K extends keyof KeeperEvents>(event: K, ...args: KeeperEvents[K]): void {
    if (event === 'error' && this.listenerCount('error') === 0) return;
    try {
      (this.emit as (e: K, ...a: KeeperEvents[K]) => boolean)(event, ...args);
    } catch (listenerErr) {
      if (event !== 'error' && this.listenerCount('error') > 0) this.safeEmit('error', listenerErr);
    }
  }
}

export interface HeartBeaterOptions extends KeeperOptions {
  registry: Registry;
  tenant: string;
  serviceId: string;
}

/** Keeps one service alive: `POST /services/{id}/heartbeat` on the spec's interval. */
export class HeartBeater extends TokenChainKeeper {
  readonly serviceId: string;

  constructor(opts: HeartBeaterOptions) {
    const { registry, tenant, serviceId } = opts;
    super(async (token, signal) => (await registry.heartbeatService(tenant, serviceId, { token }, signal)).token, opts);
    this.serviceId = serviceId;
  }
}

export interface SessionHeartBeaterOptions extends KeeperOptions {
  registry: Registry;
  tenant: string;
  sessionId: string;
}

/** Keeps one session (and so every service bound to it) alive. */
export class SessionHeartBeater extends TokenChainKeeper {
  readonly sessionId: string;

  constructor(opts: SessionHeartBeaterOptions) {
    const { registry, tenant, sessionId } = opts;
    super(async (token, signal) => (await registry.heartbeatSession(tenant, sessionId, { token }, signal)).token, opts);
    this.sessionId = sessionId;
  }
}
