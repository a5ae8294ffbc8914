import { Counter, Gauge, Histogram, Registry as PromRegistry, collectDefaultMetrics } from 'prom-client';
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
 */

/** Label of a request that matched no route (404s, early 413s). */
export const UNMATCHED_ROUTE = 'unmatched';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** What request handlers need: one call per answered request. */
export interface RequestObserver {
  /**
   * Counts one request and its latency. `route` is a template (constant
   * per route), `status` the status sent, `seconds` from the request's
   * arrival to the end of the reply.
   */
  observeRequest(route: string, method: string, status: number, seconds: number): void;
}

export type StoreOp = 'get' | 'getMany' | 'range' | 'count' | 'txn' | 'grantLease' | 'keepAlive' | 'revokeLease' | 'revision' | 'watchedRevision' | 'watch';

interface Observable {
  observe(value: number): void;
}

export interface ServerMetricsOptions {
  /** prom-client's process and Node.js metrics (CPU, memory, event loop, GC); default false. */
  processMetrics?: boolean;
  /** The `version` label of `tether_build_info`. */
  version?: string;
}

export class ServerMetrics implements RequestObserver {
  readonly registry: PromRegistry;
  private readonly requests: Histogram<'route' | 'method' | 'status'>;
  private readonly heartbeats: Counter<'kind' | 'result'>;
  private readonly storeDuration: Histogram<'op'>;
  private readonly storeErrors: Counter<'op'>;
  /** Bound children by label values: a heartbeat costs a Map lookup, not prom-client's label hashing. */
  private readonly bound = new Map<string, Observable>();
  private readonly pollSources = new Map<string, () => number>();

  constructor(registry: PromRegistry = new PromRegistry(), opts: ServerMetricsOptions = {}) {
    this.registry = registry;
    const registers = [registry];
    if (opts.processMetrics === true) {
      collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    }
    this.requests = new Histogram({
      name: 'tether_http_request_duration_seconds',
      help: 'HTTP requests by route template, method and status, and their latency (_count is the number of requests).',
      labelNames: ['route', 'method', 'status'],
      // Up to 60 s: long-polls (events?wait=) are requests too.
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30, 60],
      registers,
    });
    this.heartbeats = new Counter({
      name: 'tether_registry_heartbeats_total',
      help: 'Heartbeats received, by kind (service, session) and result (ok, error).',
      labelNames: ['kind', 'result'],
      registers,
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
    this.storeDuration = new Histogram({
      name: 'tether_store_operation_duration_seconds',
      help: 'Store (SQLite or etcd) operations and their latency, by operation.',
      labelNames: ['op'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5],
      registers,
    });
    this.storeErrors = new Counter({ name: 'tether_store_errors_total', help: 'Store operations that failed, by operation.', labelNames: ['op'], registers });
    new Gauge({
      name: 'tether_build_info',
      help: 'Always 1; the labels say which Tether and which Node.js run.',
      labelNames: ['version', 'node'],
      registers,
    }).set({ version: opts.version ?? 'unknown', node: process.version }, 1);
  }

  observeRequest(route: string, method: string, status: number, seconds: number): void {
    // Methods come from clients: anything unusual shares one label value.
    const m = METHODS.has(method) ? method : 'other';
    const key = `${route} ${m} ${status}`;
    let child = this.bound.get(key);
    if (child === undefined) {
      child = this.requests.labels(route, m, String(status));
      this.bound.set(key, child);
    }
    child.observe(seconds);
  }

  /** Counts a heartbeat of a service or a session; `ok` when it was accepted. */
  observeHeartbeat(kind: 'service' | 'session', ok: boolean): void {
    this.heartbeats.inc({ kind, result: ok ? 'ok' : 'error' });
  }

  /** Counts a store operation and its latency; failed ones also count as errors. */
  observeStore(op: StoreOp, seconds: number, ok: boolean): void {
    const key = `store ${op}`;
    let child = this.bound.get(key);
    if (child === undefined) {
      child = this.storeDuration.labels(op);
      this.bound.set(key, child);
    }
    child.observe(seconds);
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
    return { text: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
