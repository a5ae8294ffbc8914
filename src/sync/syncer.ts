import { setMaxListeners } from 'node:events';
import { Backoff, sleep } from '../lib/backoff.js';
import { isFault } from '../registry/faults.js';
import { LocalState } from './local-state.js';
import { CriticalAlarm } from './critical-alarm.js';
import { reconcile, type Action, type Circumstances } from './reconcile.js';
import { Registrar, type SyncTarget } from './registrar.js';
import { resyncLoop, resyncRound, type ResyncOptions } from './resync.js';
import { ServiceKeepers } from './keepers.js';
import { SessionKeeper } from './session.js';
import { inParallel } from './in-parallel.js';
import { UpstreamStatus } from './upstream-status.js';

/** Registry calls in flight at once during a pass. */
const PASS_CONCURRENCY = 16;
/** The resync's interval when none is given (the agent passes `agent.resync_interval`). */
const DEFAULT_RESYNC_MS = 60_000;

export interface SyncerOptions extends SyncTarget {
  /**
   * How often each of our services is checked in the registry (resync.ts), with jitter; read each
   * round (default 60 s). A service confirmed (registration, own heartbeat) within it is not checked.
   */
  resyncIntervalMs?: () => number;
  /** Called after each pass with whether every action succeeded. */
  onPass?: (ok: boolean) => void;
  /** True while a service (or the whole agent) is in maintenance: it is not registered (default: never). */
  inMaintenance?: (id: string) => boolean;
  /** A critical service passed its deregister_critical_after and leaves discovery. */
  onCriticalDeregister?: (id: string) => void;
}

/**
 * Applies `reconcile()` to the registry: has its actions performed
 * (registrar.ts), keeps the heartbeats going (one session, or one chain per
 * service), retries failed passes with exponential backoff and jitter, and
 * runs a periodic resync that notices services the registry has forgotten
 * (resync.ts). Triggers are coalesced: at most one pass runs, and one more
 * follows if asked meanwhile.
 */
export class Syncer {
  /** The local services; the agent changes them only through LocalState's methods. */
  readonly services = new LocalState();
  readonly session: SessionKeeper;
  private readonly keepers: ServiceKeepers;
  private readonly registrar: Registrar;
  private readonly backoff = new Backoff({ initialMs: 250, maxMs: 15_000, jitter: 0.5 });
  private readonly stop = new AbortController();
  private running: Promise<void> | null = null;
  private again = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Wakes a pass at the next deregister_critical_after deadline. */
  private readonly criticalAlarm = new CriticalAlarm(() => this.trigger());
  private loops: Promise<void>[] = [];
  /** True after the first pass in which every action succeeded. */
  synced = false;
  private readonly upstream: UpstreamStatus;

  constructor(private readonly opts: SyncerOptions) {
    // Every registry call in flight (PASS_CONCURRENCY in a pass) and every heartbeat chain listens
    // on this signal, each removing its listener when done: past Node's default of 10 that is not a
    // leak, and the warning Node would print at start-up would only alarm the reader of the log.
    setMaxListeners(0, this.stop.signal);
    this.upstream = new UpstreamStatus(opts.log);
    this.session = new SessionKeeper({
      registry: opts.registry,
      tenant: opts.tenant,
      log: opts.log,
      metrics: opts.metrics,
      onLost: () => this.forgetAll(),
      onUpstreamError: (err) => this.upstreamFailed('heartbeat', err),
      onUpstreamOk: () => this.upstreamOk(),
    });
    this.keepers = new ServiceKeepers({
      registry: opts.registry,
      tenant: opts.tenant,
      services: this.services,
      log: opts.log,
      metrics: opts.metrics,
      signal: this.stop.signal,
      recreate: (s, token, signal) => this.registrar.recreate(s, token, signal),
      onUpstreamOk: () => this.upstreamOk(),
      onUpstreamError: (err) => this.upstreamFailed('heartbeat', err),
    });
    this.registrar = new Registrar({
      registry: opts.registry,
      tenant: opts.tenant,
      mode: opts.mode,
      sessionTimeoutSec: opts.sessionTimeoutSec,
      log: opts.log,
      metrics: opts.metrics,
      services: this.services,
      session: this.session,
      keepers: this.keepers,
      circumstances: () => this.circumstances(),
      passAgain: () => {
        this.again = true;
      },
      onCriticalDeregister: opts.onCriticalDeregister,
    });
  }

  /** A registry call failed: see UpstreamStatus (also used by the files and the workers). */
  upstreamFailed(op: string, err: unknown): void {
    this.upstream.failed(op, err);
  }

  /** A registry call succeeded: the outage (if any) is over. */
  upstreamOk(): void {
    this.upstream.ok();
  }

  /** The last registry failure, until a call succeeds again (/v1/status `upstream.lastError`). */
  get upstreamError(): { message: string; at: number } | null {
    return this.upstream.lastError;
  }

  /** Starts the periodic resync; call trigger() for the first pass. */
  start(): void {
    const every = this.opts.resyncIntervalMs ?? (() => DEFAULT_RESYNC_MS);
    this.loops.push(resyncLoop(this.resyncOptions(), every, this.stop.signal, () => this.trigger()));
  }

  /**
   * Session mode: creates the session now, while the first probes run, so
   * the first registration does not wait a round trip for it. A failure is
   * left to the first registration, which tries again and reports it.
   */
  openSession(): void {
    if (this.opts.mode !== 'session' || this.stop.signal.aborted) return;
    this.session.ensure(this.opts.sessionTimeoutSec(), this.stop.signal).catch(() => {});
  }

  /** Asks for a pass soon; coalesces with one already running. */
  trigger(): void {
    if (this.stop.signal.aborted) return;
    clearTimeout(this.retryTimer);
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.runPasses().finally(() => {
      this.running = null;
    });
  }

  /** Resolves when no pass is running (tests and shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async runPasses(): Promise<void> {
    do {
      this.again = false;
      const ok = await this.pass();
      if (!this.stop.signal.aborted) this.criticalAlarm.arm(this.services.values());
      this.opts.onPass?.(ok);
      if (ok) {
        this.backoff.reset();
        this.synced = true;
        this.upstreamOk();
      } else if (!this.stop.signal.aborted) {
        const delay = this.backoff.next();
        this.retryTimer = setTimeout(() => this.trigger(), delay);
        this.retryTimer.unref();
      }
    } while (this.again && !this.stop.signal.aborted);
  }

  /** What decides registrations besides each service's state, as of now. */
  private circumstances(): Circumstances {
    return { now: Date.now(), inMaintenance: this.opts.inMaintenance ?? (() => false) };
  }

  /**
   * One reconcile pass; returns true when every action succeeded. Removals
   * go first (an id they free may be registered next), then the writes, each
   * group with up to PASS_CONCURRENCY calls in flight (500 services register
   * in a few round trips' time, not one after another).
   */
  private async pass(): Promise<boolean> {
    const at = this.circumstances();
    this.criticalAlarm.passing(at.now);
    const actions = reconcile(this.services.values(), this.opts.mode, at);
    let ok = true;
    const run = async (action: Action): Promise<void> => {
      if (this.stop.signal.aborted) {
        ok = false;
        return;
      }
      try {
        await this.registrar.perform(action, this.stop.signal);
      } catch (err) {
        ok = false;
        this.failed(action, err);
      }
    };
    await inParallel(actions.filter((a) => a.kind === 'deregister'), PASS_CONCURRENCY, run);
    await inParallel(actions.filter((a) => a.kind !== 'deregister'), PASS_CONCURRENCY, run);
    this.services.prune();
    return ok;
  }

  private failed(action: Action, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    const at = Date.now();
    this.services.recordError(action.id, message, at);
    this.opts.metrics.registrations.inc({ op: action.kind, result: 'error' });
    this.opts.metrics.upstreamErrors.inc({ op: action.kind });
    // Per service at debug; the rate-limited warning says it once for all (500 services, one outage: one line).
    this.opts.log.debug({ service: action.id, op: action.kind, err: message }, 'registry call failed; will retry');
    this.upstreamFailed(action.kind, err);
  }

  /** Everything we registered is gone (session lost): register again. */
  private forgetAll(): void {
    for (const s of this.services.values()) this.services.setRegistered(s.spec.id, null);
    this.trigger();
  }

  /** The resync's view of this syncer: our services, checked one GET each. */
  private resyncOptions(): ResyncOptions {
    return {
      registry: this.opts.registry,
      tenant: this.opts.tenant,
      services: this.services,
      onMissing: (id) => {
        this.opts.log.warn({ service: id }, 'registry lacks a service we registered; registering it again');
        this.trigger();
      },
      onError: (err) => {
        this.opts.metrics.upstreamErrors.inc({ op: 'resync' });
        this.opts.log.debug({ err: String(err) }, 'resync check failed');
        this.upstreamFailed('resync', err);
      },
    };
  }

  /** Checks every service we believe registered now (one GET each, none spread), then runs a pass. */
  async resync(signal: AbortSignal = this.stop.signal): Promise<void> {
    await resyncRound(this.resyncOptions(), { spreadMs: 0, freshMs: 0 }, signal);
    this.trigger();
  }

  /**
   * Stops every loop and removes what we registered (one DELETE of the
   * session in session mode), giving up after `timeoutMs`. Never rejects.
   */
  async close(timeoutMs: number): Promise<void> {
    this.stop.abort();
    clearTimeout(this.retryTimer);
    this.criticalAlarm.stop();
    const bounded = AbortSignal.timeout(timeoutMs);
    // unref: the bound must not itself keep the process alive once everything else has stopped.
    await Promise.race([this.idle(), sleep(timeoutMs, bounded, true)]);
    const removals = [this.session.close(true, bounded), ...this.keepers.removeAll(bounded)];
    const results = await Promise.allSettled(removals);
    for (const r of results) {
      if (r.status === 'rejected' && !isFault(r.reason, 'notFoundError')) {
        this.opts.log.warn({ err: String(r.reason) }, 'could not deregister at shutdown; the registry will time it out');
      }
    }
    await Promise.allSettled(this.loops);
  }
}
