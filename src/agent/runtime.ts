import type { Logger } from 'pino';
import type { CheckSpec, ServiceSpec } from '../manifest/model.js';
import type { AgentMetrics } from '../observability/metrics.js';
import { createProbe, type Probe } from '../probes/probe.js';
import { CheckRunner } from '../probes/scheduler.js';
import type { TtlBoard } from '../probes/ttl.js';
import type { LocalService } from '../sync/local-state.js';
import type { Syncer } from '../sync/syncer.js';
import { criticalDeadline } from '../sync/reconcile.js';
import type { ServiceStatus } from './status.js';

interface Running {
  local: LocalService;
  runner: CheckRunner | null;
}

/**
 * The services of the running manifest: one LocalService (owned by the
 * syncer) and one CheckRunner each. Applies manifest diffs so that an
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
    if (spec.check) this.startRunner(r, spec.check);
  }

  private change(r: Running, spec: ServiceSpec): void {
    const sameCheck = JSON.stringify(r.local.spec.check) === JSON.stringify(spec.check);
    this.syncer.services.update(spec, !sameCheck);
    if (sameCheck) return;
    this.stopRunner(r);
    // No check, no probe figures: its series would otherwise keep the old check's last values.
    if (!spec.check) this.metrics.forgetProbes(spec.id);
    else this.startRunner(r, spec.check);
  }

  private startRunner(r: Running, check: CheckSpec): void {
    const id = r.local.spec.id;
    let probe: Probe;
    try {
      probe = createProbe(check.probe, { timeoutMs: check.timeoutMs, ttl: this.ttl, serviceId: id });
    } catch (err) {
      // Validation should have caught it; never let one service take the agent down.
      this.syncer.services.setHealth(id, 'unhealthy');
      this.syncer.services.recordError(id, err instanceof Error ? err.message : String(err));
      this.log.error({ service: id, err }, 'cannot build the probe; the service stays unhealthy');
      return;
    }
    const runner = new CheckRunner({
      serviceId: id,
      check,
      probe,
      onResult: (res) => {
        this.syncer.services.recordProbe(id, { ok: res.ok, output: res.output, at: Date.now(), durationMs: res.durationMs });
        this.metrics.probeResults.inc({ service: id, result: res.ok ? 'pass' : 'fail' });
        this.metrics.probeDuration.observe({ kind: check.probe.kind }, res.durationMs / 1000);
        this.metrics.probeLastDuration.set({ service: id }, res.durationMs / 1000);
        // Steady state, every few seconds per service: skip building the record unless it is logged.
        if (this.log.isLevelEnabled('debug')) this.log.debug({ service: id, ok: res.ok, output: res.output }, 'probe');
      },
      onTransition: (from, to, res) => {
        this.syncer.services.setHealth(id, to);
        this.metrics.serviceHealthy.set({ service: id }, to === 'healthy' ? 1 : 0);
        this.log.info({ service: id, from, to, output: res.output }, `service is ${to}`);
        this.syncer.trigger();
      },
      onError: (err) => this.log.error({ service: id, err }, 'check callback failed'),
    });
    r.runner = runner;
    runner.start();
  }

  private stopRunner(r: Running): void {
    void r.runner?.stop();
    r.runner = null;
  }

  /** Runs the service's probe now (a TTL report arrived). False when it has no ttl check. */
  ttlReported(service: string): boolean {
    const r = this.running.get(service);
    if (!r || r.local.spec.check?.probe.kind !== 'ttl') return false;
    r.runner?.runNow();
    return true;
  }

  hasTtlCheck(service: string): boolean {
    return this.running.get(service)?.local.spec.check?.probe.kind === 'ttl';
  }

  /** Stops every probe (shutdown). */
  async stopAll(): Promise<void> {
    const stops = [...this.running.values()].map((r) => r.runner?.stop());
    await Promise.allSettled(stops);
  }

  /** Every service's status but its maintenance (the agent adds that). */
  status(): Array<Omit<ServiceStatus, 'maintenance'>> {
    return [...this.running.values()].map(({ local }) => ({
      id: local.spec.id,
      origin: local.spec.origin,
      health: local.health,
      registered: local.registered !== null,
      check: describeCheck(local.spec.check),
      lastProbe: local.lastProbe,
      lastHeartbeat: local.lastHeartbeat,
      lastError: local.lastError,
      critical: local.criticalSince === null ? null : { since: local.criticalSince, deregisterAt: criticalDeadline(local) },
    }));
  }
}

function describeCheck(c: CheckSpec | null): string | null {
  if (!c) return null;
  const p = c.probe;
  const what = p.kind === 'http' ? p.url : p.kind === 'tcp' ? `${p.host}:${p.port}` : p.kind === 'exec' ? p.argv.join(' ') : `${p.ttlMs}ms`;
  return `${p.kind} ${what} every ${c.intervalMs}ms`;
}
