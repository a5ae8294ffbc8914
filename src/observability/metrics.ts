import { Counter, Gauge, Histogram, Registry as PromRegistry, collectDefaultMetrics } from 'prom-client';
import { registerEventLoopLag } from './event-loop-lag.js';

/**
 * Event-loop lag sampling period (ms) of the process metrics: one sample a
 * second still catches every stall of a second or more, and some shorter ones.
 */
export const EVENT_LOOP_SAMPLE_MS = 1000;

/**
 * Every metric of the agent, defined in one place on a registry passed in
 * (never prom-client's global one, so tests and embedded agents do not clash).
 * Tether's own names are prefixed `tether_`.
 */
export class AgentMetrics {
  readonly registry: PromRegistry;
  readonly probeResults: Counter<'service' | 'result'>;
  readonly probeDuration: Histogram<'kind'>;
  readonly probeLastDuration: Gauge<'service'>;
  readonly serviceHealthy: Gauge<'service'>;
  /** Per check of a service (a service with `checks:` has several); set on transitions only. */
  readonly checkHealthy: Gauge<'service' | 'check'>;
  readonly serviceRegistered: Gauge<'service'>;
  readonly registrations: Counter<'op' | 'result'>;
  readonly heartbeats: Counter<'result'>;
  readonly heartbeatLatency: Histogram;
  readonly upstreamErrors: Counter<'op'>;
  readonly reloads: Counter<'result'>;
  readonly manifestValid: Gauge;
  readonly ready: Gauge;
  readonly fileRenders: Counter<'result'>;
  readonly actionRuns: Counter<'result'>;
  readonly workerMessages: Counter<'worker' | 'result'>;
  readonly workerInFlight: Gauge<'worker'>;
  readonly workerLastError: Gauge<'worker'>;
  readonly serviceMaintenance: Gauge<'service'>;
  readonly agentMaintenance: Gauge;
  readonly criticalDeregistrations: Counter;
  readonly fileFloorHeld: Gauge<'file'>;

  constructor(registry: PromRegistry = new PromRegistry(), opts: { processMetrics?: boolean } = {}) {
    this.registry = registry;
    const registers = [registry];
    // The event-loop lag histogram samples on a timer of its own; prom-client's default of every
    // 10 ms wakes an idle agent 100 times a second, a visible share of its CPU budget by itself
    // (figures: bench/README.md, "Figures behind design choices").
    if (opts.processMetrics !== false) {
      // No prefix: process_* and nodejs_* keep their standard names, which stock dashboards and alerts expect.
      collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
      registerEventLoopLag(registry, EVENT_LOOP_SAMPLE_MS);
    }
    this.probeResults = new Counter({ name: 'tether_probe_results_total', help: 'Health probe results.', labelNames: ['service', 'result'], registers });
    // Durations go into one histogram per probe kind, and per service only as the last one: a
    // histogram per service made 13 of a service's 17 series, and made every scrape of a large
    // manifest cost the agent more CPU than its probes (figures: bench/README.md, "Figures behind design choices").
    this.probeDuration = new Histogram({
      name: 'tether_probe_duration_seconds',
      help: 'Health probe duration, by probe kind.',
      labelNames: ['kind'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10],
      registers,
    });
    this.probeLastDuration = new Gauge({
      name: 'tether_probe_last_duration_seconds',
      help: "The service's last health probe duration.",
      labelNames: ['service'],
      registers,
    });
    this.serviceHealthy = new Gauge({ name: 'tether_service_healthy', help: '1 when the service is healthy.', labelNames: ['service'], registers });
    this.checkHealthy = new Gauge({
      name: 'tether_check_healthy',
      help: '1 when the check passes (rise/fall applied); the service is healthy while all of its checks are.',
      labelNames: ['service', 'check'],
      registers,
    });
    this.serviceRegistered = new Gauge({ name: 'tether_service_registered', help: '1 when the service is registered.', labelNames: ['service'], registers });
    this.registrations = new Counter({
      name: 'tether_registrations_total',
      help: 'Registry writes for services: register, update, deregister.',
      labelNames: ['op', 'result'],
      registers,
    });
    this.heartbeats = new Counter({ name: 'tether_heartbeats_total', help: 'Heartbeats sent to the registry.', labelNames: ['result'], registers });
    this.heartbeatLatency = new Histogram({
      name: 'tether_heartbeat_latency_seconds',
      help: 'Heartbeat round trip.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      registers,
    });
    this.upstreamErrors = new Counter({ name: 'tether_upstream_errors_total', help: 'Failed calls to the registry.', labelNames: ['op'], registers });
    this.reloads = new Counter({ name: 'tether_manifest_reloads_total', help: 'Manifest reloads.', labelNames: ['result'], registers });
    this.manifestValid = new Gauge({ name: 'tether_manifest_valid', help: '0 while the last manifest change was rejected.', registers });
    this.ready = new Gauge({ name: 'tether_ready', help: '1 once the first sync with the registry is done.', registers });
    this.fileRenders = new Counter({
      name: 'tether_file_renders_total',
      help: 'File renders: written, unchanged, deleted, kept-missing, kept-floor, error.',
      labelNames: ['result'],
      registers,
    });
    this.actionRuns = new Counter({ name: 'tether_action_runs_total', help: 'Reload action and hook runs (each attempt).', labelNames: ['result'], registers });
    this.workerMessages = new Counter({
      name: 'tether_worker_messages_total',
      help: 'Queue worker messages: claimed, succeeded, failed (each failed run), dead_lettered, skipped (filtered out).',
      labelNames: ['worker', 'result'],
      registers,
    });
    this.workerInFlight = new Gauge({ name: 'tether_worker_in_flight', help: "Messages whose action is running, per worker.", labelNames: ['worker'], registers });
    this.workerLastError = new Gauge({
      name: 'tether_worker_last_error_timestamp_seconds',
      help: "Unix time of the worker's last error (a failed run, a refused dead letter, a failed queue call); absent until one.",
      labelNames: ['worker'],
      registers,
    });
    this.serviceMaintenance = new Gauge({
      name: 'tether_service_maintenance',
      help: '1 while the service is out of discovery for maintenance (its own or the agent\'s).',
      labelNames: ['service'],
      registers,
    });
    this.agentMaintenance = new Gauge({ name: 'tether_agent_maintenance', help: '1 while agent-wide maintenance is on.', registers });
    this.criticalDeregistrations = new Counter({
      name: 'tether_critical_deregistrations_total',
      help: 'Services deregistered after deregister_critical_after of being critical.',
      registers,
    });
    this.fileFloorHeld = new Gauge({
      name: 'tether_file_floor_held',
      help: '1 while a services source of the file is below its floor and the last good list is kept.',
      labelNames: ['file'],
      registers,
    });
    this.manifestValid.set(1);
  }

  /** Forgets the per-service series of a service removed from the manifest. */
  forgetService(service: string): void {
    for (const m of [this.serviceHealthy, this.serviceRegistered, this.serviceMaintenance]) m.remove({ service });
    this.forgetProbes(service);
  }

  /** Forgets a service's probe series (its checks were removed or changed, or the service), with those of the named checks. */
  forgetProbes(service: string, checks: readonly string[] = []): void {
    for (const check of checks) this.checkHealthy.remove({ service, check });
    this.probeLastDuration.remove({ service });
    for (const result of ['pass', 'fail']) this.probeResults.remove({ service, result });
  }
}
