import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { SessionHeartBeater } from '../client/heartbeater.js';
import type { AgentMetrics } from '../observability/metrics.js';
import type { Registry } from '../registry/registry.js';

export interface SessionKeeperOptions {
  registry: Registry;
  tenant: string;
  log: Logger;
  metrics: AgentMetrics;
  /** Called when the registry has forgotten the session (its services went with it). */
  onLost: () => void;
  /** A heartbeat failed (the registry is unreachable or refused it); the keeper retries. */
  onUpstreamError?: ((err: unknown) => void) | undefined;
  /** A heartbeat went through. */
  onUpstreamOk?: (() => void) | undefined;
}

/**
 * The agent's one session: created on first need, kept alive by a
 * SessionHeartBeater. When the registry forgets it (404: it expired during
 * a partition), the keeper stops and `onLost` tells the syncer to re-register.
 */
export class SessionKeeper {
  private current: { id: string; timeoutSec: number; keeper: SessionHeartBeater } | null = null;
  private pending: Promise<string> | null = null;
  lastHeartbeat: number | null = null;

  constructor(private readonly opts: SessionKeeperOptions) {}

  get id(): string | null {
    return this.current?.id ?? null;
  }

  /**
   * Returns the session id, creating the session (timeout `timeoutSec`) when
   * there is none. Single-flight: concurrent callers share one creation.
   */
  ensure(timeoutSec: number, signal?: AbortSignal): Promise<string> {
    this.pending ??= this.ensureOnce(timeoutSec, signal).finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  private async ensureOnce(timeoutSec: number, signal?: AbortSignal): Promise<string> {
    if (this.current) {
      if (this.current.timeoutSec !== timeoutSec) await this.retime(timeoutSec, signal);
      return this.current.id;
    }
    const { id, token } = await this.opts.registry.createSession(
      this.opts.tenant,
      { heartbeat_timeout: timeoutSec, metadata: { agent: hostname() } },
      signal,
    );
    this.startKeeper(id, token, timeoutSec);
    this.opts.log.info({ session: id, timeoutSec }, 'session created');
    return id;
  }

  /** Starts heartbeating session `id` from `token`; its interval follows `timeoutSec`. */
  private startKeeper(id: string, token: string, timeoutSec: number): void {
    const { registry, tenant, log, metrics } = this.opts;
    const keeper = new SessionHeartBeater({ registry, tenant, sessionId: id, token, timeoutSec });
    keeper.on('beat', (_t, latencyMs) => {
      this.lastHeartbeat = Date.now();
      this.opts.onUpstreamOk?.();
      metrics.heartbeats.inc({ result: 'ok' });
      metrics.heartbeatLatency.observe(latencyMs / 1000);
    });
    keeper.on('error', (err) => {
      metrics.heartbeats.inc({ result: 'error' });
      metrics.upstreamErrors.inc({ op: 'heartbeat' });
      log.debug({ err: String(err) }, 'session heartbeat failed; retrying');
      this.opts.onUpstreamError?.(err);
    });
    keeper.on('gone', () => {
      void keeper.stop();
      if (this.current?.keeper !== keeper) return;
      log.warn({ session: id }, 'registry forgot the session; registering again');
      this.current = null;
      this.opts.onLost();
    });
    keeper.start();
    this.current = { id, timeoutSec, keeper };
  }

  /** Changes the session's timeout in the registry and restarts the keeper on the new interval. */
  private async retime(timeoutSec: number, signal?: AbortSignal): Promise<void> {
    const cur = this.current;
    if (!cur) return;
    await this.opts.registry.updateSession(this.opts.tenant, cur.id, { heartbeat_timeout: timeoutSec }, signal);
    await cur.keeper.stop();
    if (this.current === cur) this.startKeeper(cur.id, cur.keeper.token, timeoutSec);
  }

  /** Stops heartbeating and, with `remove`, deletes the session (and so its services). */
  async close(remove: boolean, signal?: AbortSignal): Promise<void> {
    const cur = this.current;
    this.current = null;
    if (!cur) return;
    await cur.keeper.stop();
    if (remove) await this.opts.registry.deleteSession(this.opts.tenant, cur.id, signal);
  }
}
