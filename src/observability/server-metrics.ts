import { Counter, Gauge, Registry as PromRegistry, collectDefaultMetrics } from 'prom-client';
import { HotHistogram, type HistogramSeries } from './hot-histogram.js';
import { EVENT_LOOP_SAMPLE_MS } from './metrics.js';

/**
 * Every metric of the registry server (both APIs on it), defined in one place
 * on a prom-client registry passed in, never the global one. Tether's own
 * names are prefixed `tether_`; the process metrics keep their standard
 * names (`process_cpu_seconds_total`, `nodejs_heap_size_used_bytes`...), so
 * stock dashboards and alerts work.
 *
 * Routes are labelled by their template (`/v1.0/{tenant}/services/{id}`),
 * never by the raw path: a label value per tenant or id would be a new
 * series per tenant or id.
 *
 * What every request touches (its latency, its store calls, heartbeats) is
 * counted in plain numbers and handed to the exposition at scrape time (see
 * hot-histogram.ts for why); the rest is prom-client's. Serve `scrape()`,
 * which has both, not `registry.metrics()`.
 */

/** Label of a request that matched no route (404s, early 413s). */
export const UNMATCHED_ROUTE = 'unmatched';

/** Methods with a label value of their own; anything else (clients choose) is `other`. */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'other'];

/** What request handlers need: one call per answered request. */
export interface RequestObserver {
  /**
   * Counts one request and its latency. `route` is a template (constant
   * per route), `status` the status sent, `seconds` from the request's
   * arrival to the end of the reply.
   */
  observeRequest(route: string, method: string, status: number, seconds: number): void;
}

export const STORE_OPS = ['get', 'getMany', 'range', 'count', 'txn', 'grantLease', 'keepAlive', 'revokeLease', 'revision', 'watchedRevision', 'watch'] as const;
export type StoreOp = (typeof STORE_OPS)[number];

type Kind = 'service' | 'session';

export interface ServerMetricsOptions {
  /** prom-client's process and Node.js metrics (CPU, memory, event loop, GC); default false. */
  processMetrics?: boolean;
  /** The `version` label of `tether_build_info`. */
  version?: string;
}

export class ServerMetrics implements RequestObserver {
  readonly registry: PromRegistry;
  // Up to 60 s: long-polls (events?wait=) are requests too.
  private readonly requests = new HotHistogram(
    'tether_http_request_duration_seconds',
    'HTTP requests by route template, method and status, and their latency (_count is the number of requests).',
    ['route', 'method', 'status'],
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30, 60],
  );
  private readonly storeDuration = new HotHistogram(
    'tether_store_operation_duration_seconds',
    'Store (SQLite or etcd) operations and their latency, by operation.',
    ['op'],
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5],
  );
  private readonly storeErrors: Counter<'op'>;
  private readonly refused: Counter<'cap'>;
  private readonly handshakes: Counter<'reason'>;
  /** Where the stalled seconds come from (the process's stall clock, set by the server). */
  private readonly stallSource: { seconds: () => number } = { seconds: () => 0 };
  /**
   * Request series by route, then by status * 8 + method index: routes are
   * constant strings whose hash is cached, so no key is built per request.
   */
  private readonly bound = new Map<string, Map<number, HistogramSeries>>();
  private readonly storeSeries = new Map<StoreOp, HistogramSeries>();
  private readonly beats: Record<Kind, { ok: number; error: number }> = { service: { ok: 0, error: 0 }, session: { ok: 0, error: 0 } };
  private readonly pollSources = new Map<string, () => number>();

  constructor(registry: PromRegistry = new PromRegistry(), opts: ServerMetricsOptions = {}) {
    this.registry = registry;
    const registers = [registry];
    if (opts.processMetrics === true) {
      collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    }
    const beats = this.beats;
    new Counter({
      name: 'tether_registry_heartbeats_total',
      help: 'Heartbeats received, by kind (service, session) and result (ok, error).',
      labelNames: ['kind', 'result'],
      registers,
      collect() {
        this.reset();
        for (const kind of ['service', 'session'] as const) {
          for (const result of ['ok', 'error'] as const) if (beats[kind][result] > 0) this.inc({ kind, result }, beats[kind][result]);
        }
      },
    });
    const sources = this.pollSources;
    new Gauge({
      name: 'tether_long_polls_waiting',
      help: 'Requests waiting in a long-poll, by API.',
      labelNames: ['api'],
      registers,
      collect() {
        for (const [api, count] of sources) this.set({ api }, count());
      },
    });
    this.storeErrors = new Counter({ name: 'tether_store_errors_total', help: 'Store operations that failed, by operation.', labelNames: ['op'], registers });
    this.refused = new Counter({
      name: 'tether_http_connections_refused_total',
      help: 'Connections refused by a cap (--max-connections: total; --max-connections-per-client: per_client).',
      labelNames: ['cap'],
      registers,
    });
    this.handshakes = new Counter({
      name: 'tether_tls_handshake_failures_total',
      help: 'TLS handshakes that failed, by reason (timeout, reset, no_client_cert, client_cert_rejected, server_cert_rejected, protocol, other).',
      labelNames: ['reason'],
      registers,
    });
    const stalls = this.stallSource;
    new Counter({
      name: 'tether_server_stalled_seconds_total',
      help: 'Time the process was stalled (SIGSTOP, a frozen VM, a blocked event loop); heartbeat deadlines were extended by it.',
      registers,
      collect() {
        this.reset();
        const seconds = stalls.seconds();
        if (seconds > 0) this.inc(seconds);
      },
    });
    new Gauge({
      name: 'tether_build_info',
      help: 'Always 1; the labels say which Tether and which Node.js run.',
      labelNames: ['version', 'node'],
      registers,
    }).set({ version: opts.version ?? 'unknown', node: process.version }, 1);
  }

  observeRequest(route: string, method: string, status: number, seconds: number): void {
    let m = METHODS.indexOf(method);
    if (m === -1) m = METHODS.length - 1;
    let byRoute = this.bound.get(route);
    if (byRoute === undefined) {
      byRoute = new Map();
      this.bound.set(route, byRoute);
    }
    const key = status * 8 + m;
    let series = byRoute.get(key);
    if (series === undefined) {
      series = this.requests.seriesOf([route, METHODS[m] as string, String(status)]);
      byRoute.set(key, series);
    }
    this.requests.observe(series, seconds);
  }

  /** Counts a connection refused by the total or the per-client cap. */
  observeRefusedConnection(cap: 'total' | 'per_client'): void {
    this.refused.inc({ cap });
  }

  /** Counts a TLS handshake that failed, by reason (connections.ts handshakeFailure). */
  observeHandshakeFailure(reason: string): void {
    this.handshakes.inc({ reason });
  }

  /** Reports `seconds()` at each scrape as the process's stalled time. */
  countStalls(seconds: () => number): void {
    this.stallSource.seconds = seconds;
  }

  /** Counts a heartbeat of a service or a session; `ok` when it was accepted. */
  observeHeartbeat(kind: Kind, ok: boolean): void {
    this.beats[kind][ok ? 'ok' : 'error']++;
  }

  /** Counts a store operation and its latency; failed ones also count as errors. */
  observeStore(op: StoreOp, seconds: number, ok: boolean): void {
    let series = this.storeSeries.get(op);
    if (series === undefined) {
      series = this.storeDuration.seriesOf([op]);
      this.storeSeries.set(op, series);
    }
    this.storeDuration.observe(series, seconds);
    if (!ok) this.storeErrors.inc({ op });
  }

  /**
   * Reports `count()` at each scrape as the long-polls waiting in `api`
   * (`registry`, `queues`). A second source for the same api replaces the first.
   */
  countLongPolls(api: string, count: () => number): void {
    this.pollSources.set(api, count);
  }

  /** The Prometheus text of every metric, and its content type. */
  async scrape(): Promise<{ text: string; contentType: string }> {
    const text = (await this.registry.metrics()) + this.requests.text() + this.storeDuration.text();
    return { text, contentType: this.registry.contentType };
  }
}
