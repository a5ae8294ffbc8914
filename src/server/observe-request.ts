import { performance } from 'node:perf_hooks';
import type { ApiRequest, ApiResponse } from './exchange.js';
import type { ServerState } from './state.js';

/** What an exchange ended with, as the request metrics counted it. */
export interface Observed {
  /** The status sent, or 499 (nginx's "client closed request") when the client left before any reply. */
  status: number;
  seconds: number;
}

/**
 * The end-of-request block both pipelines (pipeline.ts, queues/pipeline.ts)
 * share: one request into the latency histogram under its route template.
 * Each caller adds its own (heartbeat counters, its debug line).
 */
export function observeRequest(state: ServerState, req: ApiRequest, res: ApiResponse, route: string): Observed {
  const status = res.headersSent ? res.statusCode : 499;
  const seconds = (performance.now() - req.startedAt) / 1000;
  state.metrics.observeRequest(route, req.method ?? '', status, seconds);
  return { status, seconds };
}
