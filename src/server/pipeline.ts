import { RegistryFault, faults } from '../registry/faults.js';
import { authenticate } from './auth.js';
import { splitTarget, type ApiRequest, type ApiResponse, type Handler } from './exchange.js';
import { MAX_BODY, checkContentType, parseBody, sendFault, sendTooLarge, toFault, transactionId } from './http-io.js';
import { publicQuery, tokenParam } from './query.js';
import { performance } from 'node:perf_hooks';
import { UNMATCHED_ROUTE } from '../observability/server-metrics.js';
import { serveOps } from './ops.js';
import { ROUTE_TEMPLATES, matchRoute, type RouteMatch, type RouteName } from './router.js';
import { configurationRoutes } from './routes/configuration.js';
import { eventRouteHandlers } from './routes/event-routes.js';
import { eventRoutes } from './routes/events.js';
import { limitRoutes } from './routes/limits.js';
import { serviceRoutes } from './routes/services.js';
import { sessionRoutes } from './routes/sessions.js';
import type { ServerState } from './state.js';
import { observeRequest } from './observe-request.js';
import { onQueuesRequest } from './queues/pipeline.js';
import { isQueuesTarget } from './queues/router.js';
import { hasCode } from '../lib/errors.js';
import { faultForClientError, rawFaultBody, rawFaultBytes } from './raw-fault.js';
import { AFTER_STALL_MS, replayAfterStall } from './stall-replay.js';
import { processStallClock } from '../lib/stall-clock.js';

/**
 * One exchange, from the request head to the reply. The checks run in this
 * order, each answering on its own and stopping the rest:
 *
 *  -1. GET /healthz, /readyz, /metrics -> the operator's endpoints (ops.ts),
 *      answered even while closing
 *   0. closing              -> 503 systemFailureError (Connection: close)
 *   1. Content-Length >= 5000 -> bare 413, before reading any byte
 *   2. read the body, counting bytes; reaching 5000 -> bare 413, stop
 *      (done for every method: GET/DELETE bodies are read, size-checked
 *      and ignored; reading first also bounds what a 404 or 401 costs)
 *   3. percent-decoding of the path -> 400 "URI malformed"
 *   4. route match (path and method) -> 404 notFoundError with requested_path
 *   5. Content-Type, on every method -> 400 "Unsupported content type"
 *   6. auth token, when configured -> 401 unauthorizedError
 *   7. JSON body of POST/PUT -> 400 "Failed to parse request body"
 *   8. the registry call (query, path id and body validation live there)
 *
 * Size first because it protects the server; path and route before
 * content type so that a wrong URL is reported as such (spec M1/M2 both
 * hold); auth before the body is parsed, so that an unauthenticated client
 * cannot probe the parser or the registry. 404 and 400-content-type answers
 * do not need a token: they reveal nothing about any tenant's data.
 */

const HANDLERS: Record<RouteName, Handler> = {
  ...limitRoutes,
  ...serviceRoutes,
  ...configurationRoutes,
  ...eventRoutes,
  ...sessionRoutes,
  ...eventRouteHandlers,
};

const V = 118;

/** The 'request' listener (and 'checkContinue', with `expectContinue`). */
export function onRequest(state: ServerState, req: ApiRequest, res: ApiResponse, expectContinue: boolean): void {
  if (refuseHostless(state, req, res)) return;
  if (state.bodyIdleTimeoutMs > 0) watchBodyIdle(req, state.bodyIdleTimeoutMs);
  // `/v1` and `/v1/...` are the Cloud Queues API (its own checks, limits and faults); `/v1.0/...` stays here.
  const queues = state.queues;
  if (queues !== undefined && isQueuesTarget(req.url ?? '')) {
    onQueuesRequest(state, queues, req, res, expectContinue);
    if (state.accessLog !== undefined) res.once('close', logAccess);
    return;
  }
  req.api = state;
  req.response = res;
  req.startedAt = performance.now();
  state.inflight++;
  res.on('close', onResponseClose);
  if (state.accessLog !== undefined) res.once('close', logAccess);
  // Every API path starts with /v (`/v1.0/`, `/v1/`): one char code keeps the others off the hot path.
  if (req.url?.charCodeAt(1) !== V && serveOps(state, req, res)) return;
  req.txnId = transactionId(req.headers['x-rp-request-id'], state);

  if (state.closing) return sendFault(req, res, faults.unavailable());
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) >= MAX_BODY) {
    req.rejected = true;
    return sendTooLarge(req, res);
  }
  if (expectContinue) res.writeContinue();
  req.on('data', onData);
  req.on('end', onEnd);
}

function onData(this: ApiRequest, chunk: Buffer): void {
  if (this.rejected) return;
  const length = this.bodyLength + chunk.length;
  this.bodyLength = length;
  if (length >= MAX_BODY) {
    this.rejected = true;
    this.bodyParts = null;
    sendTooLarge(this, this.response);
  } else if (this.bodyParts === null) {
    this.bodyParts = [chunk];
  } else {
    this.bodyParts.push(chunk);
  }
}

function onEnd(this: ApiRequest): void {
  if (!this.rejected) void dispatch(this, this.response);
}

/** Why a long-poll whose client left ends (one error for all: nobody reads it). */
const CLIENT_GONE = new Error('client disconnected');

/** Counts the exchange out (and into the metrics); aborts a running events call whose client went away. */
function onResponseClose(this: ApiResponse): void {
  const req = this.req;
  const poll = req.hold ?? req.poll;
  if (poll !== null && !this.writableFinished) poll.abort(CLIENT_GONE);
  const state = req.api;
  observe(state, req, this);
  state.inflight--;
  if (state.inflight === 0 && state.onDrained !== null) state.onDrained();
}

async function dispatch(req: ApiRequest, res: ApiResponse): Promise<void> {
  let route: RouteMatch | null = null;
  try {
    route = resolve(req);
    // Right after a stall, a heartbeat and its retry with the same token share one reply (stall-replay.ts).
    // Checked here first: the common case costs no async call and await.
    if (mayReplay(route) && (await replayAfterStall(req, res, route))) return;
    await HANDLERS[route.name](req, res, route);
  } catch (err) {
    replyFailure(req, res, route, err);
  }
}

/** The fault for `err` (a handler's failure, also one that ends after its handler returned: a long-poll). */
export function replyFailure(req: ApiRequest, res: ApiResponse, route: RouteMatch | null, err: unknown): void {
  try {
    replyError(req, res, route, err);
  } catch (fatal) {
    // Not even a fault could be written: drop the connection rather than leave it hanging.
    req.api.logger.error({ err: fatal, txnId: req.txnId }, 'cannot send fault reply');
    res.destroy();
  }
}

/** A heartbeat within AFTER_STALL_MS of a stall: replayAfterStall may answer it. */
function mayReplay(route: RouteMatch): boolean {
  return (route.name === 'services.heartbeat' || route.name === 'sessions.heartbeat') && processStallClock().stalledWithin(AFTER_STALL_MS);
}

/**
 * One request into the metrics. 499 (nginx's "client closed request") is the
 * status of a request whose client left before any reply.
 */
function observe(state: ServerState, req: ApiRequest, res: ApiResponse): void {
  const name = req.routeName;
  // Kept on the request: the access log (after this) writes the same template.
  const route = (req.routeTemplate ??= lateTemplate(req));
  const { status, seconds } = observeRequest(state, req, res, route);
  if (name === 'services.heartbeat' || name === 'sessions.heartbeat') {
    state.metrics.observeHeartbeat(name === 'services.heartbeat' ? 'service' : 'session', status < 300);
  }
  if (state.logger.isLevelEnabled('debug')) {
    // The path without its query (which may carry a token); the headers' tokens are redacted by the logger.
    const ms = Math.round(seconds * 10_000) / 10;
    // The operator's endpoints have no transaction id.
    const txn = req.txnId === '' ? {} : { txnId: req.txnId };
    state.logger.debug({ ...txn, method: req.method, path: req.rawPath || route, route, status, ms, headers: req.headers }, 'request');
  }
}

/** The template of a request answered before routing (413, closing): routed now, for its label only. */
function lateTemplate(req: ApiRequest): string {
  try {
    if (req.rawPath === '') splitTarget(req);
    const route = matchRoute(req.method ?? '', req.rawPath);
    return route === null ? UNMATCHED_ROUTE : ROUTE_TEMPLATES[route.name];
  } catch {
    return UNMATCHED_ROUTE;
  }
}

/** Steps 3-7: the route of this request, or throws the fault to answer. */
function resolve(req: ApiRequest): RouteMatch {
  splitTarget(req);
  const route = matchRoute(req.method ?? '', req.rawPath);
  req.routeTemplate = route === null ? UNMATCHED_ROUTE : ROUTE_TEMPLATES[route.name];
  req.routeName = route?.name ?? null;
  if (route === null) {
    const q = publicQuery(req.rawQuery);
    throw faults.noRoute(q === '' ? req.rawPath : `${req.rawPath}?${q}`);
  }
  // Tenants become key prefixes and directory-like names: `.` and `..` would alias others.
  if (route.tenant === '.' || route.tenant === '..') throw faults.invalidParam('tenantId', "The tenant ids '.' and '..' are reserved.");
  checkContentType(req.headers['content-type']);
  const auth = req.api.auth;
  if (auth !== undefined) {
    const header = req.headers['x-auth-token'];
    authenticate(auth, route.tenant, typeof header === 'string' && header !== '' ? header : tokenParam(req.queryPairs()));
  }
  if (req.method === 'POST' || req.method === 'PUT') req.body = parseBody(req);
  return route;
}


const STORE_WARNING_EVERY_MS = 5_000;
let lastStoreWarning = 0;

function replyError(req: ApiRequest, res: ApiResponse, route: RouteMatch | null, err: unknown): void {
  // An events call aborted by close() answers with the abort reason (503);
  // one aborted because its client left has nobody to answer.
  const poll = req.hold ?? req.poll;
  if (poll !== null && poll.signal.aborted) {
    const reason: unknown = poll.signal.reason;
    err = reason instanceof RegistryFault ? reason : faults.unavailable();
  }
  const { fault, unexpected } = toFault(err);
  if (unexpected) {
    // Method and route name only: the URL may carry a token in its query.
    req.api.logger.error({ err, txnId: req.txnId, method: req.method, route: route?.name }, 'request failed');
  } else if (hasCode(err, 'store.unavailable') && Date.now() - lastStoreWarning >= STORE_WARNING_EVERY_MS) {
    // The store (etcd) is away: said at most every few seconds, not once per request.
    lastStoreWarning = Date.now();
    req.api.logger.warn({ err: (err as Error).message, route: route?.name }, 'store unavailable: answering 503');
  }
  sendFault(req, res, fault);
}

/**
 * HTTP/1.1 requires Host (RFC 9112 3.2). Node's own check answers a bare 400,
 * so the server turns it off (`requireHostHeader: false`) and answers here
 * with a fault body and X-Response-Id, closing the connection like the
 * parser's other refusals. True when it answered.
 */
function refuseHostless(state: ServerState, req: ApiRequest, res: ApiResponse): boolean {
  if (req.headers.host !== undefined || req.httpVersionMajor !== 1 || req.httpVersionMinor !== 1) return false;
  const txn = transactionId(req.headers['x-rp-request-id'], state);
  const fault = { ...faultForClientError(undefined), details: 'An HTTP/1.1 request must carry a Host header.' };
  const body = rawFaultBody(fault, txn);
  res.writeHead(fault.status, ['Content-Type', 'application/json; charset=UTF-8', 'Content-Length', String(Buffer.byteLength(body)), 'X-Response-Id', txn, 'Connection', 'close']);
  res.end(body);
  state.accessLog?.refused(fault.status, txn, req.socket.remoteAddress);
  return true;
}

/**
 * Drops a client that goes silent while sending a body (a trickle of a byte
 * every few seconds stays under Node's requestTimeout for long). The socket
 * timeout runs only until the body has arrived, so it never cuts a long-poll,
 * which waits after that.
 */
function watchBodyIdle(req: ApiRequest, ms: number): void {
  const length = req.headers['content-length'];
  if ((length === undefined || length === '0') && req.headers['transfer-encoding'] === undefined) return;
  // Node parses a body that came in the head's packet right after this 'request' listener returns:
  // such a request is complete by the next tick, and needs no timer (nor a socket timeout to clear).
  process.nextTick(armBodyIdle, req, ms);
}

function armBodyIdle(req: ApiRequest, ms: number): void {
  if (req.complete || req.destroyed) return;
  req.socket.setTimeout(ms);
  // on(), not once(): once() wraps each listener in a new closure, per request. 'end' comes once anyway.
  req.on('timeout', onBodyIdle);
  req.on('end', onBodyDone);
}

function onBodyDone(this: ApiRequest): void {
  this.socket.setTimeout(0);
  this.off('timeout', onBodyIdle);
}

/** The body stalled: a 408 fault if nothing was answered yet, then the connection closes. */
function onBodyIdle(this: ApiRequest): void {
  this.off('timeout', onBodyIdle);
  const res = this.response;
  const state = this.api;
  const fault = faultForClientError('ERR_HTTP_REQUEST_TIMEOUT');
  if (res !== undefined && !res.headersSent && state !== undefined) {
    const txn = this.txnId !== '' ? this.txnId : transactionId(undefined, state);
    this.socket.end(rawFaultBytes(fault, txn), () => this.socket.destroy());
  } else {
    this.socket.destroy();
  }
}

/** The access-log line of an exchange, once its response is done (or abandoned). */
function logAccess(this: ApiResponse): void {
  this.req.api.accessLog?.request(this.req, this);
}
