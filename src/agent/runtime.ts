import type { Logger } from 'pino';
import { checksOf, type CheckSpec, type ServiceSpec } from '../manifest/model.js';
import type { AgentMetrics } from '../observability/metrics.js';
import { CheckGroup } from '../probes/check-group.js';
import type { TtlBoard } from '../probes/ttl.js';
import type { LocalService } from '../sync/local-state.js';
import type { Syncer } from '../sync/syncer.js';
import { criticalDeadline } from '../sync/reconcile.js';
import type { ServiceStatus } from './status.js';

interface Running {
  local: LocalService;
  /** The service's checks (null without any). */
  runner: CheckGroup | null;
}

/**
 * The services of the running manifest: one LocalService (owned by the
 * syncer) and one CheckGroup each (one CheckRunner per check). Applies manifest diffs so that an
 * untouched service keeps its probe state and its registration.
 */
export class ServiceRuntime {
  private readonly running = new Map<string, Running>();

  constructor(
    private readonly syncer: Syncer,
    private readonly ttl: TtlBoard,
    private readonly metrics: AgentMetrics,
    private readonly log: Logger,
  ) {}

  /** Makes the running set match `specs`; returns counts for the log. */
  apply(specs: readonly ServiceSpec[]): { added: number; removed: number; changed: number } {
    const next = new Map(specs.map((s) => [s.id, s]));
    let added = 0;
    let removed = 0;
    let changed = 0;
    for (const [id, r] of this.running) {
      if (next.has(id)) continue;
      this.stopRunner(r);
      this.syncer.services.remove(id);
      this.running.delete(id);
      this.ttl.delete(id);
      this.metrics.forgetProbes(id, checkNames(r.local.spec));
      this.metrics.forgetService(id);
      removed++;
    }
    for (const spec of specs) {
      const r = this.running.get(spec.id);
      if (!r) {
        this.add(spec);
        added++;
      } else if (JSON.stringify(r.local.spec) !== JSON.stringify(spec)) {
        this.change(r, spec);
        changed++;
      }
    }
    this.syncer.trigger();
    return { added, removed, changed };
  }

  private add(spec: ServiceSpec): void {
    // Removed, then re-added before the removal landed: add() revives the tombstone.
    const local = this.syncer.services.add(spec);
    const r: Running = { local, runner: null };
    this.running.set(spec.id, r);
    this.metrics.serviceHealthy.set({ service: spec.id }, local.health === 'healthy' ? 1 : 0);
    this.metrics.serviceRegistered.set({ service: spec.id }, 0);
    this.startRunner(r, checksOf(spec));
  }

  private change(r: Running, spec: ServiceSpec): void {
    const sameCheck = JSON.stringify(checksOf(r.local.spec)) === JSON.stringify(checksOf(spec));
    const before = checkNames(r.local.spec);
    this.syncer.services.update(spec, !sameCheck);
    if (sameCheck) return;
    this.stopRunner(r);
    // The old checks' series would otherwise keep their last values (or stay for checks that are gone).
    this.metrics.forgetProbes(spec.id, before);
    this.startRunner(r, checksOf(spec));
  }

  private startRunner(r: Running, checks: readonly CheckSpec[]): void {
    if (checks.length === 0) return;
    const id = r.local.spec.id;
    const group = new CheckGroup({
      serviceId: id,
      checks,
      ttl: this.ttl,
      onResult: (c, res, spec) => {
        this.syncer.services.recordProbe(id, { ok: res.ok, output: checks.length > 1 ? `${c.name}: ${res.output}` : res.output, at: Date.now(), durationMs: res.durationMs });
        this.metrics.probeResults.inc({ service: id, result: res.ok ? 'pass' : 'fail' });
        this.metrics.probeDuration.observe({ kind: spec.probe.kind }, res.durationMs / 1000);
        this.metrics.probeLastDuration.set({ service: id }, res.durationMs / 1000);
        // Steady state, every few seconds per service: skip building the record unless it is logged.
        if (this.log.isLevelEnabled('debug')) this.log.debug({ service: id, check: c.name, ok: res.ok, output: res.output }, 'probe');
      },
      onCheckHealth: (c, from) => {
        this.metrics.checkHealthy.set({ service: id, check: c.name }, c.health === 'healthy' ? 1 : 0);
        if (checks.length > 1) this.log.info({ service: id, check: c.name, from, to: c.health, output: c.last?.output ?? c.error }, `check ${c.name} is ${c.health}`);
      },
      onHealth: (from, to, cause) => {
        if (cause.error !== null) {
          this.syncer.services.recordError(id, cause.error);
          this.log.error({ service: id, check: cause.name, err: cause.error }, 'cannot build the probe; the service stays unhealthy');
        }
        this.syncer.services.setHealth(id, to);
        this.metrics.serviceHealthy.set({ service: id }, to === 'healthy' ? 1 : 0);
        this.log.info({ service: id, from, to, check: cause.name, output: cause.last?.output ?? cause.error }, `service is ${to}`);
        this.syncer.trigger();
      },
      onError: (err) => this.log.error({ service: id, err }, 'check callback failed'),
    });
    r.runner = group;
    group.start();
  }

  private stopRunner(r: Running): void {
    void r.runner?.stop();
    r.runner = null;
  }

  /** Runs the service's ttl check now (a TTL report arrived). False when it has no ttl check. */
  ttlReported(service: string): boolean {
    return this.running.get(service)?.runner?.runTtlNow() ?? false;
  }

  hasTtlCheck(service: string): boolean {
    return this.running.get(service)?.runner?.hasTtl ?? false;
  }

  /** Stops every probe (shutdown). */
  async stopAll(): Promise<void> {
    const stops = [...this.running.values()].map((r) => r.runner?.stop());
    await Promise.allSettled(stops);
  }

  /** Every service's status but its maintenance (the agent adds that). */
  status(): Array<Omit<ServiceStatus, 'maintenance'>> {
    return [...this.running.values()].map(({ local, runner }) => ({
      id: local.spec.id,
      origin: local.spec.origin,
      health: local.health,
      registered: local.registered !== null,
      check: checksOf(local.spec).map(describeCheck).join('; ') || null,
      checks: runner?.states() ?? [],
      lastProbe: local.lastProbe,
      lastHeartbeat: local.lastHeartbeat,
      lastError: local.lastError,
      critical: local.criticalSince === null ? null : { since: local.criticalSince, deregisterAt: criticalDeadline(local) },
    }));
  }
}

function describeCheck(c: CheckSpec): string {
  const p = c.probe;
  let what: string;
  if (p.kind === 'http') what = p.url;
  else if (p.kind === 'tcp') what = `${p.host}:${p.port}`;
  else if (p.kind === 'exec') what = p.argv.join(' ');
  else if (p.kind === 'grpc') what = `${p.host}:${p.port}${p.service === '' ? '' : ` service ${p.service}`}${p.tls ? ' tls' : ''}`;
  // A ttl check has no probe interval of its own: it turns unhealthy exactly ttl after the last pass.
  else return `ttl ${p.ttlMs}ms`;
  return `${p.kind} ${what} every ${c.intervalMs}ms`;
}

function checkNames(spec: ServiceSpec): string[] {
  return checksOf(spec).map((c) => c.name ?? c.probe.kind);
}
