import { hasCode } from '../../lib/errors.js';
import { isQueueFault, queueFault, type QueueFault } from '../../queues/faults.js';
import { UNMATCHED_ROUTE } from '../../observability/server-metrics.js';
import { RegistryFault } from '../../registry/faults.js';
import { observeRequest } from '../observe-request.js';
import { queuesQuotaFault } from '../quota/quota-faults.js';
import { splitTarget, type ApiRequest, type ApiResponse } from '../exchange.js';
import type { ServerState } from '../state.js';
import type { QueueApi, QueueExchange, QueueHandler } from './context.js';
import { checkHead, tooLarge, type HeadOutcome } from './head.js';
import { parseJsonBody } from './json-body.js';
import { matchQueueRoute, type QueueRouteName } from './router.js';
import { sendAllow, sendEmpty, sendFault, sendInternal, sendUnauthorized } from './reply.js';
import { claimRoutes } from './routes/claims.js';
import { homeRoutes } from './routes/home.js';
import { messageRoutes } from './routes/messages.js';
import { queueRoutes } from './routes/queues.js';

/**
 * One queues exchange: head checks (head.ts), then the body, counted as it
 * streams in, then the handler. The body is always read to its end so the
 * keep-alive connection stays usable and the client gets its answer (a
 * client still writing a body it was refused tends to see a reset instead);
 * bytes past the route's cap are counted and dropped, never kept. Past
 * HARD_LIMIT the answer goes out at once with `Connection: close`.
 */

const HANDLERS: Record<QueueRouteName, QueueHandler> = { ...homeRoutes, ...queueRoutes, ...messageRoutes, ...claimRoutes };

/** Metric labels: one per route, the project form folded into the plain one. */
const ROUTE_TEMPLATES: Record<QueueRouteName, string> = {
  home: '/v1',
  health: '/v1/health',
  'queues.list': '/v1/queues',
  queue: '/v1/queues/{queue_name}',
  metadata: '/v1/queues/{queue_name}/metadata',
  stats: '/v1/queues/{queue_name}/stats',
  messages: '/v1/queues/{queue_name}/messages',
  message: '/v1/queues/{queue_name}/messages/{message_id}',
  claims: '/v1/queues/{queue_name}/claims',
  claim: '/v1/queues/{queue_name}/claims/{claim_id}',
};

/** Bytes read (and dropped) before answering without waiting for the rest of a refused body. */
const HARD_LIMIT = 16 * 1024 * 1024;

interface Exchange {
  readonly state: ServerState;
  readonly api: QueueApi;
  readonly req: ApiRequest;
  readonly res: ApiResponse;
  head: HeadOutcome;
  /** Set once answered early; later body bytes are ignored. */
  done: boolean;
}

/** The 'request' listener's branch for `/v1` targets (pipeline.ts hands them over). */
export function onQueuesRequest(state: ServerState, api: QueueApi, req: ApiRequest, res: ApiResponse, expectContinue: boolean): void {
  req.api = state;
  req.response = res;
  state.inflight++;
  req.startedAt = performance.now();
  res.on('close', () => onClose(state, api, req, res));
  if (state.closing) return sendFault(res, queueFault('unavailable', 'The server is shutting down.'));
  splitTarget(req);
  const x: Exchange = { state, api, req, res, head: { kind: 'notFound' }, done: false };
  try {
    const route = matchQueueRoute(req.method ?? '', req.rawPath);
    req.routeTemplate = route === null ? null : ROUTE_TEMPLATES[route.name];
    x.head = checkHead(req, route, api);
  } catch (err) {
    return fail(x, err);
  }
  const length = Number(req.headers['content-length'] ?? 0);
  if (length > HARD_LIMIT || (expectContinue && x.head.kind !== 'ok')) return answerNow(x);
  if (expectContinue) res.writeContinue();
  req.on('data', (chunk: Buffer) => onData(x, chunk));
  req.on('end', () => {
    if (!x.done) void dispatch(x);
  });
}

function onData(x: Exchange, chunk: Buffer): void {
  if (x.done) return;
  const req = x.req;
  const length = req.bodyLength + chunk.length;
  req.bodyLength = length;
  const head = x.head;
  if (length > HARD_LIMIT) return answerNow(x);
  if (head.kind !== 'ok' || head.body.shape === null) return;
  if (length > head.body.cap) {
    req.bodyParts = null;
    x.head = { kind: 'fault', fault: tooLarge(head.body.cap) };
  } else if (req.bodyParts === null) {
    req.bodyParts = [chunk];
  } else {
    req.bodyParts.push(chunk);
  }
}

/** Answers before the body has been read; the connection closes after the reply. */
function answerNow(x: Exchange): void {
  x.done = true;
  x.res.setHeader('Connection', 'close');
  if (x.head.kind === 'ok' && x.head.body.shape !== null) x.head = { kind: 'fault', fault: tooLarge(x.head.body.cap) };
  void dispatch(x);
}

async function dispatch(x: Exchange): Promise<void> {
  const { head, res } = x;
  try {
    switch (head.kind) {
      case 'notFound':
        return sendEmpty(res, 404);
      case 'reply':
        return sendAllow(res, head.status, head.allow);
      case 'unauthorized':
        return sendUnauthorized(res, head.description);
      case 'fault':
        return sendFault(res, head.fault);
      case 'ok':
        await HANDLERS[head.route.name](exchangeOf(x, head));
    }
  } catch (err) {
    fail(x, err);
  }
}

function exchangeOf(x: Exchange, head: Extract<HeadOutcome, { kind: 'ok' }>): QueueExchange {
  const { req, res } = x;
  // Its bytes were counted against the cap and its nesting checked on the text: the domain need not again.
  const body = head.body.shape === null ? undefined : parseJsonBody(req.bodyParts, req.bodyLength, head.body.shape, head.body.cap);
  const path = req.rawPath.length > 3 && req.rawPath.endsWith('/') ? req.rawPath.slice(0, -1) : req.rawPath;
  return {
    req,
    res,
    route: head.route,
    api: x.api,
    project: head.project,
    clientId: head.clientId,
    body,
    query: req.queryPairs(),
    path,
    uri: req.rawQuery === '' ? path : `${path}?${req.rawQuery}`,
    poll: () => startPoll(x),
  };
}

/** An AbortController for a long-poll: close() aborts it (503), a client that leaves aborts it too. */
function startPoll(x: Exchange): AbortSignal {
  const ctl = new AbortController();
  x.req.poll = ctl;
  x.state.polls.add(ctl);
  x.api.polls.add(ctl);
  if (x.state.closing) ctl.abort(queueFault('unavailable', 'The server is shutting down.'));
  else if (x.res.destroyed) ctl.abort(new Error('client disconnected'));
  return ctl.signal;
}

function onClose(state: ServerState, api: QueueApi, req: ApiRequest, res: ApiResponse): void {
  const poll = req.poll;
  if (poll !== null) {
    if (!res.writableFinished) poll.abort(new Error('client disconnected'));
    state.polls.delete(poll);
    api.polls.delete(poll);
  }
  const route = req.routeTemplate ?? UNMATCHED_ROUTE;
  const { status, seconds } = observeRequest(state, req, res, route);
  if (state.logger.isLevelEnabled('debug')) {
    // Path without query and no headers: /v1 tokens travel only in X-Auth-Token, which is never logged here.
    state.logger.debug({ method: req.method, path: req.rawPath, route, status, ms: Math.round(seconds * 10_000) / 10 }, 'queues request');
  }
  state.inflight--;
  if (state.inflight === 0 && state.onDrained !== null) state.onDrained();
}

const STORE_WARNING_EVERY_MS = 5_000;
let lastStoreWarning = 0;

function fail(x: Exchange, err: unknown): void {
  const { req, res } = x;
  try {
    const fault = faultOf(req, err);
    if (fault !== null) return sendFault(res, fault);
    // Method and route only: the path may carry a project id, never a token, but keep logs lean.
    req.api.logger.error({ err, method: req.method, route: x.head.kind === 'ok' ? x.head.route.name : undefined }, 'queues request failed');
    sendInternal(res);
  } catch (fatal) {
    req.api.logger.error({ err: fatal }, 'cannot send queues fault reply');
    res.destroy();
  }
}

/** The fault to answer for `err`, or null for a bug (500). */
function faultOf(req: ApiRequest, err: unknown): QueueFault | null {
  const poll = req.poll;
  // A long-poll aborted by close() answers 503 whatever the domain rejected with.
  if (poll !== null && poll.signal.aborted) return queueFault('unavailable', 'The server is shutting down.');
  if (isQueueFault(err)) return err;
  const quota = queuesQuotaFault(err);
  if (quota !== undefined) return quota;
  // JSON.stringify of a reply holding a stored document too deep for this stack: the request's data, not a bug.
  if (err instanceof RangeError) return queueFault('invalidApiCall', 'The reply holds a document nested too deeply to serialize.');
  if (err instanceof RegistryFault && err.status === 503) return queueFault('unavailable', 'The server is shutting down.');
  if (hasCode(err, 'store.unavailable')) {
    if (Date.now() - lastStoreWarning >= STORE_WARNING_EVERY_MS) {
      lastStoreWarning = Date.now();
      req.api.logger.warn({ err: (err as Error).message }, 'store unavailable: queues answer 503');
    }
    return queueFault('unavailable', 'The storage is unavailable; retry later.');
  }
  return null;
}

