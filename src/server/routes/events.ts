import { EventHold } from '../../registry/event-hold.js';
import type { EventAnswer } from '../../registry/event-poll.js';
import { faults } from '../../registry/faults.js';
import type { Page, RegistryEvent } from '../../registry/types.js';
import type { ApiRequest, Handler } from '../exchange.js';
import type { RouteMatch } from '../router.js';
// A cycle (pipeline.ts imports this module), used only when a call settles, never while either module loads.
import { replyFailure } from '../pipeline.js';
import { firstParam, paramValues, parseQuery } from '../query.js';
import { sendSharedPage } from './page.js';

/**
 * A waiting `GET /events?wait=`'s hold, and where its page or fault goes
 * (Registry.pollEvents answers it directly: no promise, closure or context
 * per waiting poll). Kept on the request and in the server's set: the
 * pipeline aborts it when the client disconnects, close() aborts it with a
 * 503 fault as the reason.
 */
class EventReply extends EventHold implements EventAnswer {
  constructor(
    private readonly req: ApiRequest,
    private readonly route: RouteMatch,
  ) {
    super();
  }

  resolve(page: Page<RegistryEvent>): void {
    const { req } = this;
    req.api.polls.delete(this);
    // Outside dispatch's try/catch: a throw here would reach whoever called the registry, not the client.
    try {
      sendSharedPage(req, req.response, page);
    } catch (err) {
      if (!req.response.headersSent) return replyFailure(req, req.response, this.route, err);
      // Half a reply went out: no fault can follow it, and the client must not wait for the rest.
      req.api.logger.error({ err, txnId: req.txnId, route: this.route.name }, 'sending an events page failed');
      req.response.destroy();
    }
  }

  reject(err: unknown): void {
    this.req.api.polls.delete(this);
    replyFailure(this.req, this.req.response, this.route, err);
  }
}

/**
 * `GET /events` (spec 9.3) with the `wait` long-poll extension. A call with
 * `wait` gets an EventReply (its hold, and where it is answered). The hold
 * is all a waiting poll adds: no AbortController, timer or listener of its
 * own.
 *
 * The handler does not await a waiting call: it returns at once, and the
 * page (or the fault) is sent when the call settles. A waiting poll so holds
 * no suspended async frame of the handler's or of the pipeline's dispatch
 * (about 0.45 KB each: the frame, its registers, context and promise), and
 * with Registry.pollEvents no promise either.
 */
const list: Handler = async (req, res, route) => {
  // Parsed here, not cached on the request (req.queryPairs()): a waiting poll would hold the pairs (~0.4 KB)
  // until it is answered. A next page's next_href parses them again (a last page, the followers' case, does not).
  const q = parseQuery(req.rawQuery);
  const limit = firstParam(q, 'limit');
  const marker = firstParam(q, 'marker');
  const types = paramValues(q, 'type');
  const type = types.length === 0 ? undefined : types.length === 1 ? types[0] : types;
  const wait = firstParam(q, 'wait');
  if (wait === undefined) {
    const page = await req.api.registry.listEvents(route.tenant, { limit, marker, type });
    return sendSharedPage(req, res, page);
  }

  const reply = new EventReply(req, route);
  req.hold = reply;
  req.api.polls.add(reply);
  if (req.api.closing) reply.abort(faults.unavailable());
  else if (res.destroyed) reply.abort(new Error('client disconnected'));
  const registry = req.api.registry;
  const opts = { limit, marker, type, wait, hold: reply };
  if (registry.pollEvents !== undefined) registry.pollEvents(route.tenant, opts, reply);
  else
    registry.listEvents(route.tenant, opts).then(
      (page) => reply.resolve(page),
      (err: unknown) => reply.reject(err),
    );
};

export const eventRoutes = { 'events.list': list } as const;
