import type { Logger } from '../observability/logger.js';
import type { ServerMetrics } from '../observability/server-metrics.js';
import type { Registry } from '../registry/registry.js';
import type { AccessLog } from './access-log.js';
import type { AuthTable } from './auth.js';
import type { PollHandle } from './exchange.js';
import type { QueueApi } from './queues/context.js';
import type { RouteStore } from '../routes/route-store.js';

/** What every request of one server shares. Mutable fields belong to the lifecycle in index.ts. */
export interface ServerState {
  readonly registry: Registry;
  /** The Cloud Queues v1 API under `/v1`, when the server serves it. */
  readonly queues: QueueApi | undefined;
  /** Event routes (extension, issue 16), when the server delivers registry events into queues. */
  readonly routes: RouteStore | undefined;
  readonly logger: Logger;
  /** Undefined: open server (no token check). */
  readonly auth: AuthTable | undefined;
  /** Hostname part of generated transaction ids. */
  readonly hostname: string;
  /** Counter part of generated transaction ids. */
  counter: number;
  /** Set when close() starts: /readyz answers 503 while requests are still served (the shutdown delay). */
  draining: boolean;
  /** Set by close() after the shutdown delay: new requests get 503, every reply carries `Connection: close`. */
  closing: boolean;
  /** Requests whose response has not emitted 'close' yet. */
  inflight: number;
  /** Running long-polls (events holds, queues abort controllers), aborted on close(). */
  readonly polls: Set<PollHandle>;
  /** Called when `inflight` drops to 0 while closing. */
  onDrained: (() => void) | null;
  /** Request counts and latencies, long-polls, served at /metrics. */
  readonly metrics: ServerMetrics;
  /** Resolves when the store answers (for /readyz); undefined: always ready. */
  readonly readiness: (() => Promise<void>) | undefined;
  /** The /readyz store check in flight, shared by concurrent probes. */
  readyCheck: Promise<string | null> | null;
  /** Longest silence while a request body arrives (0: none); the connection then gets a 408 fault and closes. */
  readonly bodyIdleTimeoutMs: number;
  /** One JSON line per exchange, when configured (`--access-log`). */
  readonly accessLog: AccessLog | undefined;
}
