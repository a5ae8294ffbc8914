import { EventHold } from '../../registry/event-hold.js';
import { faults } from '../../registry/faults.js';
import type { Handler } from '../exchange.js';
// A cycle (pipeline.ts imports this module), used only when a call settles, never while either module loads.
import { replyFailure } from '../pipeline.js';
import { firstParam, paramValues, parseQuery } from '../query.js';
import { sendSharedPage } from './page.js';

/**
 * `GET /events` (spec 9.3) with the `wait` long-poll extension. A call with
 * `wait` gets an EventHold, kept on the request and in the server's set: the
 * pipeline aborts it when the client disconnects, close() aborts it with a
 * 503 fault as the reason. The hold is all a waiting poll adds (no
 * AbortController, timer or listener of its own).
 *
 * The handler does not await a waiting call: it returns at once, and the
 * page (or the fault) is sent when the call settles. A waiting poll so holds
 * no suspended async frame of the handler's or of the pipeline's dispatch
 * (about 0.45 KB each: the frame, its registers, context and promise), only
 * the call's promise and the one closure pair below.
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

  const hold = new EventHold();
  req.hold = hold;
  req.api.polls.add(hold);
  if (req.api.closing) hold.abort(faults.unavailable());
  else if (res.destroyed) hold.abort(new Error('client disconnected'));
  req.api.registry.listEvents(route.tenant, { limit, marker, type, wait, hold }).then(
    (page) => {
      req.api.polls.delete(hold);
      // Outside dispatch's try/catch: a throw here would reject a promise nobody holds and end the process.
      try {
        sendSharedPage(req, res, page);
      } catch (err) {
        if (!res.headersSent) return replyFailure(req, res, route, err);
        // Half a reply went out: no fault can follow it, and the client must not wait for the rest.
        req.api.logger.error({ err, txnId: req.txnId, route: route.name }, 'sending an events page failed');
        res.destroy();
      }
    },
    (err: unknown) => {
      req.api.polls.delete(hold);
      replyFailure(req, res, route, err);
    },
  );
};

export const eventRoutes = { 'events.list': list } as const;
