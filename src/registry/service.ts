import type { Logger } from 'pino';
import { systemClock, type Clock } from '../lib/clock.js';
import { silentLogger } from '../observability/logger.js';
import type { Store } from '../store/store.js';
import { Configuration } from './configuration.js';
import { ensureAccount, gracefulDeadline, type AccountRecord, type BeatRecord, type Ctx, type ServiceRecord, type SessionRecord } from './context.js';
import { DeadlineIndex } from './deadlines.js';
import type { EventAnswer } from './event-poll.js';
import { Events } from './events.js';
import { Expirer } from './expiry.js';
import { followOtherServers } from './follow.js';
import { keys } from './keys.js';
import { migrateBeatKeys } from './migrate-beats.js';
import type { Registry } from './registry.js';
import { Services } from './services.js';
import { Sessions } from './sessions.js';
import type {
  ConfigListOptions,
  ConfigValue,
  CreateServiceReply,
  CreateSessionReply,
  EventListOptions,
  Limits,
  Page,
  RegistryEvent,
  ResourceLimits,
  Service,
  ServiceListOptions,
  Session,
  TokenReply,
} from './types.js';

export interface RegistryServiceOptions {
  clock?: Clock;
  logger?: Logger;
  /** How long events are kept (default 30 days, as the original). */
  eventRetentionMs?: number;
  /** The background reaper only removes services whose deadline is older than this (default 5 s, spec 6.8). */
  reaperGraceMs?: number;
  /** How often the background reaper sweeps (default 1 s; 0 disables it). */
  reaperIntervalMs?: number;
  /** Resource limits of new accounts (defaults: service 200, configuration_value 1000, session 100). */
  defaultLimits?: Partial<ResourceLimits>;
  /** Limits for every tenant, existing ones included (the operator's `--limits`). */
  limits?: Partial<ResourceLimits>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const RATE_RULE = { path: '/.*', limit: 500_000, periodMs: DAY_MS };
const TRIM_EVERY_MS = 60_000;

/**
 * The Registry semantics, written once over a Store (the way Kubernetes'
 * API server runs over etcd). The store is the caller's: close() stops this
 * registry's timers but leaves the store open.
 */
export class RegistryService implements Registry {
  private readonly services: Services;
  private readonly config: Configuration;
  private readonly events: Events;
  private readonly sessions: Sessions;
  private readonly expirer: Expirer;
  private readonly reads = new Map<string, { since: number; used: number }>();
  private readonly stop = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> = Promise.resolve();
  private lastTrim = 0;

  private constructor(private readonly ctx: Ctx) {
    this.expirer = new Expirer(ctx);
    this.services = new Services(ctx, this.expirer);
    this.config = new Configuration(ctx, this.stop.signal);
    this.events = new Events(ctx, this.expirer, this.stop.signal);
    this.sessions = new Sessions(ctx, this.expirer);
  }

  /**
   * Loads accounts, indexes every heartbeat deadline (a service with no
   * heartbeat state, as after a restart of the SQLite engine, gets one full
   * timeout from now), and starts the background reaper. Rejects when the store fails.
   */
  static async open(store: Store, opts: RegistryServiceOptions = {}): Promise<RegistryService> {
    const clock = opts.clock ?? systemClock;
    const ctx: Ctx = {
      store,
      clock,
      log: (opts.logger ?? silentLogger()).child({ component: 'registry' }),
      opts: {
        eventRetentionMs: opts.eventRetentionMs ?? 30 * DAY_MS,
        reaperGraceMs: opts.reaperGraceMs ?? 5000,
        reaperIntervalMs: opts.reaperIntervalMs ?? 1000,
        defaultLimits: { service: 200, configuration_value: 1000, session: 100, ...opts.defaultLimits, ...opts.limits },
        limitOverrides: { ...opts.limits },
      },
      deadlines: new DeadlineIndex(),
      accounts: new Map(),
      startedAt: clock.now(),
    };
    const registry = new RegistryService(ctx);
    const from = store.shared ? (await store.revision()) + 1 : 0;
    await migrateBeatKeys(ctx);
    await registry.load();
    if (store.shared) await followOtherServers(ctx, from, () => registry.rescan(), registry.stop.signal);
    registry.schedule();
    return registry;
  }

  /** Reloads every deadline from the store, after the store lost its change stream. */
  private rescan(): void {
    this.ctx.log.warn('store change stream was reset; reloading heartbeat deadlines');
    this.load().catch((err: unknown) => this.ctx.log.error({ err }, 'reloading heartbeat deadlines failed'));
  }

  private async load(): Promise<void> {
    const { store, deadlines } = this.ctx;
    const { entries } = await store.range(keys.accountPrefix);
    // One range per kind of record, not one read per service: on etcd each read is a round trip.
    const beatsUnder = async (prefix: string): Promise<Map<string, BeatRecord>> =>
      new Map((await store.range(prefix)).entries.map((e) => [e.key.slice(prefix.length), JSON.parse(e.value) as BeatRecord]));
    for (const e of entries) {
      const tenant = e.key.slice(keys.accountPrefix.length);
      const account = JSON.parse(e.value) as AccountRecord;
      this.ctx.accounts.set(tenant, { ...account, limits: { ...account.limits, ...this.ctx.opts.limitOverrides } });
      const beats = await beatsUnder(keys.beatPrefix(tenant));
      for (const s of (await store.range(keys.servicePrefix(tenant))).entries) {
        const rec = JSON.parse(s.value) as ServiceRecord;
        if (rec.session_id !== null || rec.heartbeat_timeout === null) continue;
        deadlines.set(tenant, 'svc', rec.id, beats.get(rec.id)?.deadline ?? gracefulDeadline(this.ctx, rec.created_at, rec.heartbeat_timeout));
      }
      const sessionBeats = await beatsUnder(keys.sessionBeatPrefix(tenant));
      for (const s of (await store.range(keys.sessionPrefix(tenant))).entries) {
        const rec = JSON.parse(s.value) as SessionRecord;
        deadlines.set(tenant, 'ses', rec.id, sessionBeats.get(rec.id)?.deadline ?? gracefulDeadline(this.ctx, rec.created_at, rec.heartbeat_timeout));
      }
    }
  }

  private schedule(): void {
    const every = this.ctx.opts.reaperIntervalMs;
    if (every <= 0 || this.stop.signal.aborted) return;
    // Jitter spreads the sweeps of several registry servers over one store.
    this.timer = setTimeout(() => {
      this.sweeping = this.maintain().finally(() => this.schedule());
    }, every + Math.random() * every * 0.2);
    this.timer.unref();
  }

  /**
   * One background sweep: reaps what is past its deadline by more than the
   * grace, and trims events past retention (at most once a minute).
   * Never rejects; failures are logged and retried on the next sweep.
   */
  async maintain(): Promise<void> {
    const now = this.ctx.clock.now();
    const cutoff = now - this.ctx.opts.reaperGraceMs;
    for (const tenant of this.ctx.deadlines.tenantIds()) {
      if (this.stop.signal.aborted) return;
      await this.expirer.run(tenant, cutoff).catch((err: unknown) => this.ctx.log.warn({ err, tenant }, 'expiry sweep failed'));
    }
    if (now - this.lastTrim < TRIM_EVERY_MS) return;
    this.lastTrim = now;
    for (const tenant of this.ctx.accounts.keys()) {
      if (this.stop.signal.aborted) return;
      await this.events.trim(tenant).catch((err: unknown) => this.ctx.log.warn({ err, tenant }, 'event trim failed'));
    }
  }

  /** Counts reads for the informational rate block of /limits (the original's proxy counted GETs). */
  private read(tenant: string): void {
    const now = this.ctx.clock.now();
    const r = this.reads.get(tenant);
    if (!r || now - r.since >= RATE_RULE.periodMs) this.reads.set(tenant, { since: now, used: 1 });
    else r.used++;
  }

  async getLimits(tenant: string): Promise<Limits> {
    this.read(tenant);
    const account = await ensureAccount(this.ctx, tenant);
    return {
      resource: { ...account.limits },
      rate: {
        [RATE_RULE.path]: {
          limit: RATE_RULE.limit,
          used: this.reads.get(tenant)?.used ?? 0,
          window: `${(RATE_RULE.periodMs / 3_600_000).toFixed(1)} hours`,
        },
      },
    };
  }

  listServices(tenant: string, opts?: ServiceListOptions): Promise<Page<Service>> {
    this.read(tenant);
    return this.services.list(tenant, opts);
  }
  getService(tenant: string, id: string): Promise<Service> {
    this.read(tenant);
    return this.services.get(tenant, id);
  }
  createService(tenant: string, body: unknown): Promise<CreateServiceReply> {
    return this.services.create(tenant, body);
  }
  updateService(tenant: string, id: string, body: unknown): Promise<void> {
    return this.services.update(tenant, id, body);
  }
  deleteService(tenant: string, id: string): Promise<void> {
    return this.services.delete(tenant, id);
  }
  heartbeatService(tenant: string, id: string, body: unknown): Promise<TokenReply> {
    return this.services.heartbeat(tenant, id, body);
  }

  listConfig(tenant: string, opts?: ConfigListOptions): Promise<Page<ConfigValue>> {
    this.read(tenant);
    return this.config.list(tenant, opts);
  }
  getConfig(tenant: string, id: string): Promise<ConfigValue> {
    this.read(tenant);
    return this.config.get(tenant, id);
  }
  setConfig(tenant: string, id: string, body: unknown): Promise<void> {
    return this.config.set(tenant, id, body);
  }
  deleteConfig(tenant: string, id: string): Promise<void> {
    return this.config.delete(tenant, id);
  }

  // Not async: the call's own promise is returned, not wrapped in another (a waiting long-poll holds one promise fewer).
  listEvents(tenant: string, opts?: EventListOptions, signal?: AbortSignal): Promise<Page<RegistryEvent>> {
    this.read(tenant);
    // close() ends long-polls too: Events holds the stop signal (one listener for all polls, not a linked signal each).
    return this.events.list(tenant, opts, signal);
  }

  /** listEvents answered through `answer`: the server's long-poll holds no promise while it waits (Registry.pollEvents). */
  pollEvents(tenant: string, opts: EventListOptions, answer: EventAnswer): void {
    this.read(tenant);
    this.events.poll(tenant, opts, answer);
  }

  listSessions(tenant: string, opts?: ServiceListOptions): Promise<Page<Session>> {
    this.read(tenant);
    return this.sessions.list(tenant, opts);
  }
  getSession(tenant: string, id: string): Promise<Session> {
    this.read(tenant);
    return this.sessions.get(tenant, id);
  }
  createSession(tenant: string, body: unknown): Promise<CreateSessionReply> {
    return this.sessions.create(tenant, body);
  }
  updateSession(tenant: string, id: string, body: unknown): Promise<void> {
    return this.sessions.update(tenant, id, body);
  }
  deleteSession(tenant: string, id: string): Promise<void> {
    return this.sessions.delete(tenant, id);
  }
  heartbeatSession(tenant: string, id: string, body: unknown): Promise<TokenReply> {
    return this.sessions.heartbeat(tenant, id, body);
  }

  /** Stops the reaper and ends long-polls; waits for a running sweep. The store stays open. Idempotent. */
  async close(): Promise<void> {
    this.stop.abort();
    clearTimeout(this.timer);
    await this.sweeping;
  }
}
