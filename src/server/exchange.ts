import { IncomingMessage, type ServerResponse } from 'node:http';
import type { EventHold } from '../registry/event-hold.js';
import { parseQuery, type QueryPair } from './query.js';
import type { RouteMatch, RouteName } from './router.js';
import type { ServerState } from './state.js';

/**
 * The request object of our server (`http.createServer({ IncomingMessage: ApiRequest })`).
 *
 * Per-exchange state lives here rather than in closures, so the body and
 * close listeners in pipeline.ts are module-level functions: the heartbeat
 * hot path allocates no closures per request.
 */
export class ApiRequest extends IncomingMessage {
  /** Set by the request listener before anything else runs. */
  api!: ServerState;
  response!: ApiResponse;
  /** X-Response-Id of this exchange, and txnId of its fault body. */
  txnId = '';
  /** Body chunks, or null when nothing arrived yet (an empty body). */
  bodyParts: Buffer[] | null = null;
  bodyLength = 0;
  /** True once the exchange was answered early (413): the body is no longer kept or dispatched. */
  rejected = false;
  /** Path part of the request target, still percent-encoded (used for next_href). */
  rawPath = '';
  /** Query string without the `?`, still encoded. */
  rawQuery = '';
  /** The parsed JSON body of POST/PUT (undefined when the body was empty). */
  body: unknown = undefined;
  /** performance.now() when the request head arrived: the start of its latency. */
  startedAt = 0;
  /**
   * The `route` label of the request metrics: a path template, never the
   * raw path. Set by whoever routes the request (the queues API's routes
   * too); null until then.
   */
  routeTemplate: string | null = null;
  /** The registry route, once matched (heartbeats are counted by it). */
  routeName: RouteName | null = null;
  /** Abort controller of a queues long-poll, aborted when the client goes away. */
  poll: AbortController | null = null;
  /** The hold of a `GET /events?wait=` call (no AbortController per poll), aborted like `poll`. */
  hold: EventHold | null = null;
  private pairs: QueryPair[] | null = null;

  /** The query parameters in their original order, parsed on first use. */
  queryPairs(): QueryPair[] {
    if (this.pairs === null) this.pairs = parseQuery(this.rawQuery);
    return this.pairs;
  }
}

export type ApiResponse = ServerResponse<ApiRequest>;

/** What the pipeline and close() use of a running long-poll: an AbortController, or an events poll's EventHold. */
export interface PollHandle {
  abort(reason?: unknown): void;
  readonly signal: { readonly aborted: boolean; readonly reason: unknown };
}

/** A route handler: calls the registry, then replies. Throws faults (mapped by the pipeline). */
export type Handler = (req: ApiRequest, res: ApiResponse, route: RouteMatch) => Promise<void>;

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i;

/**
 * Where the path of request target `url` starts: 0 in origin form, after
 * `scheme://authority` in absolute form (RFC 9112 3.2.2), -1 when neither.
 */
export function targetPathStart(url: string): number {
  if (url.charCodeAt(0) === 47 /* / */) return 0;
  const m = ABSOLUTE_FORM.exec(url);
  return m === null ? -1 : m[0].length;
}

/** Sets rawPath and rawQuery from the request target; an absolute-form target keeps only its path. */
export function splitTarget(req: ApiRequest): void {
  let url = req.url ?? '/';
  const start = targetPathStart(url);
  if (start > 0) url = url.slice(start) || '/';
  const q = url.indexOf('?');
  req.rawPath = q === -1 ? url : url.slice(0, q);
  req.rawQuery = q === -1 ? '' : url.slice(q + 1);
}
