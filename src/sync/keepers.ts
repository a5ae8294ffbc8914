import type { Logger } from 'pino';
import { HeartBeater } from '../client/heartbeater.js';
import type { AgentMetrics } from '../observability/metrics.js';
import type { Registry } from '../registry/registry.js';
import type { LocalService, LocalState } from './local-state.js';

export interface ServiceKeepersOptions {
  registry: Registry;
  tenant: string;
  services: LocalState;
  log: Logger;
  metrics: AgentMetrics;
  /** Every chain stops when this aborts. */
  signal: AbortSignal;
  /** The registry forgot the service: create it as it should be now; resolves with its new token. */
  recreate: (s: LocalService, token: string, signal: AbortSignal) => Promise<string>;
  onUpstreamOk: () => void;
  onUpstreamError: (err: unknown) => void;
}

/** Service mode: one heartbeat chain (HeartBeater) per registered service. */
export class ServiceKeepers {
  private readonly keepers = new Map<string, { keeper: HeartBeater; timeoutSec: number }>();

  constructor(private readonly opts: ServiceKeepersOptions) {}

  /** (Re)starts the service's heartbeat chain from `token`, on its current heartbeat_timeout. */
  async start(s: LocalService, token: string): Promise<void> {
    const { registry, tenant, metrics, log } = this.opts;
    const id = s.spec.id;
    await this.stop(id);
    const timeoutSec = s.spec.heartbeatTimeoutSec;
    const keeper = new HeartBeater({ registry, tenant, serviceId: id, token, timeoutSec, recreate: (signal) => this.opts.recreate(s, token, signal) });
    keeper.on('beat', (_t, latencyMs) => {
      this.opts.services.recordHeartbeat(id);
      this.opts.onUpstreamOk();
      metrics.heartbeats.inc({ result: 'ok' });
      metrics.heartbeatLatency.observe(latencyMs / 1000);
    });
    keeper.on('error', (err) => {
      metrics.heartbeats.inc({ result: 'error' });
      metrics.upstreamErrors.inc({ op: 'heartbeat' });
      log.debug({ service: id, err: String(err) }, 'heartbeat failed; retrying');
      this.opts.onUpstreamError(err);
    });
    keeper.on('recreated', () => log.info({ service: id }, 'registry forgot the service; registered again'));
    keeper.start(this.opts.signal);
    this.keepers.set(id, { keeper, timeoutSec });
  }

  /** After an update: a changed heartbeat_timeout needs a keeper on the new interval (same token chain). */
  async retime(s: LocalService): Promise<void> {
    const cur = this.keepers.get(s.spec.id);
    if (!cur || cur.timeoutSec === s.spec.heartbeatTimeoutSec) return;
    await cur.keeper.stop();
    await this.start(s, cur.keeper.token);
  }

  async stop(id: string): Promise<void> {
    const k = this.keepers.get(id);
    this.keepers.delete(id);
    await k?.keeper.stop();
  }

  /** Shutdown: stops every chain and deletes its service; one promise per service. */
  removeAll(signal: AbortSignal): Promise<unknown>[] {
    return [...this.keepers].map(([id, { keeper }]) => keeper.stop().then(() => this.opts.registry.deleteService(this.opts.tenant, id, signal)));
  }
}
