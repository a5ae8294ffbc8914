import type { Queues } from '../../queues/queues.js';
import type { Project, QueueLimits } from '../../queues/types.js';
import type { ApiRequest, ApiResponse } from '../exchange.js';
import type { QueryPair } from '../query.js';
import type { QueueRoute } from './router.js';

/** What the server needs to serve the queues API: the domain and the limits it was built with. */
export interface QueueApi {
  readonly service: Queues;
  readonly limits: Readonly<QueueLimits>;
  /** Running long-polls of this API (also in the server's `polls`, which close() aborts): counted in /metrics. */
  readonly polls: Set<AbortController>;
}

/** One queues request, its head checks passed; the handler replies through `res`. */
export interface QueueExchange {
  readonly req: ApiRequest;
  readonly res: ApiResponse;
  readonly route: QueueRoute;
  readonly api: QueueApi;
  readonly project: Project;
  /** Canonical Client-ID on the routes that require one (post, list), else the header as sent. */
  readonly clientId: string | undefined;
  /** The parsed JSON body on routes that read one (undefined when empty). */
  readonly body: unknown;
  /** The query pairs in their order. */
  readonly query: readonly QueryPair[];
  /** Path part of the request target as received, without one trailing slash. */
  readonly path: string;
  /** Path and query as received (Content-Location). */
  readonly uri: string;
  /** For long-polls: aborted when the client leaves or the server closes. */
  poll(): AbortSignal;
}

export type QueueHandler = (x: QueueExchange) => Promise<void>;
