import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { Backoff, sleep } from '../lib/backoff.js';
import { HeartBeater } from '../client/heartbeater.js';
import type { AgentMetrics } from '../observability/metrics.js';
import { isFault } from '../registry/faults.js';
import type { Registry } from '../registry/registry.js';
import { TetherError } from '../lib/errors.js';
import { LocalState, type LocalService } from './local-state.js';
import { CriticalAlarm } from './critical-alarm.js';
import { criticalDeadline, desiredRegistration, fingerprint, reconcile, type Action, type Circumstances, type HeartbeatMode, type Registration } from './reconcile.js';
import { SessionKeeper } from './session.js';

/** Registry calls in flight at once during a pass. */
const PASS_CONCURRENCY = 16;
/** The registry-failure warning repeats at most this often while the failures go on. */
export const UPSTREAM_WARN_EVERY_MS = 30_000;

/** Runs `fn` over `items` with at most `limit` running at once; resolves when all are done. */
async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export interface SyncerOptions {
  registry: Registry;
  tenant: string;
  mode: HeartbeatMode;
  /** The session timeout to use (session mode), from the current manifest. */
  sessionTimeoutSec: () => number;
  log: Logger;
  metrics: AgentMetrics;
  /** Full comparison with the registry, with jitter (default 60 s). */
  resyncIntervalMs?: number;
  /** Called after each pass with whether every action succeeded. */
  onPass?: (ok: boolean) => void;
  /** True while a service (or the whole agent) is in maintenance: it is not registered (default: never). */
  inMaintenance?: (id: string) => boolean;
  /** A critical service passed its deregister_critical_after and leaves discovery. */
  onCriticalDeregister?: (id: string) => void;
}

/**
 * Applies `reconcile()` to the registry: performs its actions, keeps the
 * heartbeats going (one session, or one chain per service), retries failed
 * passes with exponential backoff and jitter, and runs a periodic full
 * resync that notices services the registry has forgotten. Triggers are
 * coalesced: at most one pass runs, and one more follows if asked meanwhile.
 */
export class Syncer {
  /** The local services; the agent changes them only through LocalState's methods. */
  readonly services = new LocalState();
  readonly session: SessionKeeper;
  private readonly keepers = new Map<string, { keeper: HeartBeater; timeoutSec: number }>();
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
  upstreamError: { message: string; at: number } | null = null;
  private lastUpstreamWarn = 0;

  constructor(private readonly opts: SyncerOptions) {
    // Every registry call in flight (PASS_CONCURRENCY in a pass) and every heartbeat chain listens
    // on this signal, each removing its listener when done: past Node's default of 10 that is not a
    // leak, and the warning Node would print at start-up would only alarm the reader of the log.
    setMaxListeners(0, this.stop.signal);
    this.session = new SessionKeeper({
      registry: opts.registry,
      tenant: opts.tenant,
      log: opts.log,
      metrics: opts.metrics,
      onLost: () => this.forgetAll(),
      onUpstreamError: (err) => this.upstreamFailed('heartbeat', err),
      onUpstreamOk: () => this.upstreamOk(),
    });
  }

  /**
   * Any failed registry call (a registration, a heartbeat, a resync) shows in
   * /v1/status as `upstream.lastError` until a call succeeds again, and in a
   * warning at most every UPSTREAM_WARN_EVERY_MS: an outage is visible at the
   * default log level without a line per heartbeat.
   */
  upstreamFailed(op: string, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    const at = Date.now();
    this.upstreamError = { message, at };
    if (at - this.lastUpstreamWarn < UPSTREAM_WARN_EVERY_MS) return;
    this.lastUpstreamWarn = at;
    this.opts.log.warn({ op, err: message }, 'registry unreachable or failing; retrying (repeats at most every 30 s)');
  }

  /** A registry call succeeded: the outage (if any) is over. */
  upstreamOk(): void {
    if (this.upstreamError === null) return;
    this.upstreamError = null;
    this.lastUpstreamWarn = 0;
    this.opts.log.info('registry reachable again');
  }

  /** Starts the periodic resync; call trigger() for the first pass. */
  start(): void {
    this.loops.push(this.resyncLoop(this.stop.signal));
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
        await this.perform(action);
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

  private async perform(action: Action): Promise<void> {
    const s = this.services.get(action.id);
    if (!s) return;
    const { registry, tenant, log, metrics } = this.opts;
    const signal = this.stop.signal;
    if (action.kind === 'deregister') {
      await this.stopKeeper(action.id);
      await registry.deleteService(tenant, action.id, signal).catch((err: unknown) => {
        if (!isFault(err, 'notFoundError')) throw err;
      });
      this.services.setRegistered(action.id, null);
      const at = this.circumstances();
      const deadline = criticalDeadline(s);
      const critical = deadline !== null && at.now >= deadline && !s.removing && !at.inMaintenance(s.spec.id);
      if (critical) this.opts.onCriticalDeregister?.(action.id);
      log.info({ service: action.id, ...(critical ? { reason: 'deregister_critical_after' } : {}) }, 'deregistered');
    } else if (action.kind === 'update') {
      const { id: _id, ...patch } = action.registration;
      try {
        await registry.updateService(tenant, action.id, patch, signal);
        this.services.setRegistered(action.id, action.fingerprint);
        if (this.opts.mode === 'service') await this.retimeKeeper(s);
        log.info({ service: action.id }, 'registration updated');
      } catch (err) {
        if (!isFault(err, 'notFoundError')) throw err;
        this.services.setRegistered(action.id, null); // the registry forgot it: register again on the next pass
        this.again = true;
      }
    } else {
      await this.register(s, action, signal);
      log.info({ service: action.id, health: s.health }, 'registered');
    }
    this.services.recordError(action.id, null);
    metrics.registrations.inc({ op: action.kind, result: 'ok' });
    metrics.serviceRegistered.set({ service: action.id }, s.registered === null ? 0 : 1);
  }

  /** Creates the service (see createFor) and, in service mode, starts its heartbeat chain. */
  private async register(s: LocalService, action: Extract<Action, { kind: 'register' }>, signal: AbortSignal): Promise<void> {
    const token = await this.createFor(s, action.registration, signal);
    this.services.setRegistered(action.id, action.fingerprint);
    if (this.opts.mode === 'service' && token !== null) await this.startKeeper(s, token);
  }

  /**
   * Creates the service with `registration`; an existing one with our id (a
   * previous run of ours) is replaced. Returns its token (null in session mode).
   */
  private async createFor(s: LocalService, registration: Registration, signal: AbortSignal): Promise<string | null> {
    const { registry, tenant, mode } = this.opts;
    const body: Record<string, unknown> = { ...registration };
    if (mode === 'session') body.session_id = await this.session.ensure(this.opts.sessionTimeoutSec(), signal);
    try {
      return (await registry.createService(tenant, body, signal)).token;
    } catch (err) {
      if (!isFault(err, 'serviceWithThisIdExists')) throw err;
      await registry.deleteService(tenant, s.spec.id, signal).catch((e: unknown) => {
        if (!isFault(e, 'notFoundError')) throw e;
      });
      return (await registry.createService(tenant, body, signal)).token;
    }
  }

  /** (Re)starts the service's heartbeat chain from `token`, on its current heartbeat_timeout. */
  private async startKeeper(s: LocalService, token: string): Promise<void> {
    const { registry, tenant, metrics, log } = this.opts;
    const id = s.spec.id;
    await this.stopKeeper(id);
    const timeoutSec = s.spec.heartbeatTimeoutSec;
    const keeper = new HeartBeater({
      registry,
      tenant,
      serviceId: id,
      token,
      timeoutSec,
      // The registry forgot it: create it as it should be now, not as it was first registered.
      recreate: async (signal) => {
        const now = desiredRegistration(s, this.opts.mode, this.circumstances());
        if (now === null) throw new TetherError('sync.not_wanted', `service ${id} is no longer to be registered`);
        const next = await this.createFor(s, now, signal);
        this.services.setRegistered(id, fingerprint(now));
        return next ?? token;
      },
    });
    keeper.on('beat', (_t, latencyMs) => {
      this.services.recordHeartbeat(id);
      this.upstreamOk();
      metrics.heartbeats.inc({ result: 'ok' });
      metrics.heartbeatLatency.observe(latencyMs / 1000);
    });
    keeper.on('error', (err) => {
      metrics.heartbeats.inc({ result: 'error' });
      metrics.upstreamErrors.inc({ op: 'heartbeat' });
      log.debug({ service: id, err: String(err) }, 'heartbeat failed; retrying');
      this.upstreamFailed('heartbeat', err);
    });
    keeper.on('recreated', () => log.info({ service: id }, 'registry forgot the service; registered again'));
    keeper.start(this.stop.signal);
    this.keepers.set(id, { keeper, timeoutSec });
  }

  /** After an update: a changed heartbeat_timeout needs a keeper on the new interval (same token chain). */
  private async retimeKeeper(s: LocalService): Promise<void> {
    const cur = this.keepers.get(s.spec.id);
    if (!cur || cur.timeoutSec === s.spec.heartbeatTimeoutSec) return;
    await cur.keeper.stop();
    await this.startKeeper(s, cur.keeper.token);
  }

  private async stopKeeper(id: string): Promise<void> {
    const k = this.keepers.get(id);
    this.keepers.delete(id);
    await k?.keeper.stop();
  }

  /** Everything we registered is gone (session lost): register again. */
  private forgetAll(): void {
    for (const s of this.services.values()) this.services.setRegistered(s.spec.id, null);
    this.trigger();
  }

  /** Compares with the registry: a service we believe registered but the registry lacks is registered again. */
  async resync(signal: AbortSignal = this.stop.signal): Promise<void> {
    // What we believed before listing: a registration that lands while we list is not "missing".
    const before = new Map([...this.services.values()].map((s) => [s.spec.id, s.registered]));
    const present = new Set<string>();
    let marker: string | undefined;
    do {
      const page = await this.opts.registry.listServices(this.opts.tenant, { limit: 1000, marker }, signal);
      for (const svc of page.values) present.add(svc.id);
      marker = page.metadata.next_marker ?? undefined;
    } while (marker !== undefined);
    let changed = false;
    for (const s of this.services.values()) {
      if (s.registered !== null && s.registered === before.get(s.spec.id) && !present.has(s.spec.id)) {
        this.services.setRegistered(s.spec.id, null);
        changed = true;
      }
    }
    if (changed) this.opts.log.warn('registry lacks services we registered; registering them again');
    this.trigger();
  }

  private async resyncLoop(signal: AbortSignal): Promise<void> {
    const every = this.opts.resyncIntervalMs ?? 60_000;
    while (!signal.aborted) {
      await sleep(every * (0.8 + Math.random() * 0.4), signal, true);
      if (signal.aborted) return;
      await this.resync(signal).catch((err: unknown) => {
        this.opts.metrics.upstreamErrors.inc({ op: 'resync' });
        this.opts.log.debug({ err: String(err) }, 'resync failed');
        this.upstreamFailed('resync', err);
      });
    }
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
    const removals: Promise<unknown>[] = [this.session.close(true, bounded)];
    for (const [id, { keeper }] of this.keepers) {
      removals.push(keeper.stop().then(() => this.opts.registry.deleteService(this.opts.tenant, id, bounded)));
    }
    const results = await Promise.allSettled(removals);
    for (const r of results) {
      if (r.status === 'rejected' && !isFault(r.reason, 'notFoundError')) {
        this.opts.log.warn({ err: String(r.reason) }, 'could not deregister at shutdown; the registry will time it out');
      }
    }
    await Promise.allSettled(this.loops);
  }
}
