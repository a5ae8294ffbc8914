import { EventHold } from '../../registry/event-hold.js';
import { faults } from '../../registry/faults.js';
import type { Handler } from '../exchange.js';
import { firstParam, paramValues } from '../query.js';
import { pageParams, sendSharedPage } from './page.js';

/**
 * `GET /events` (spec 9.3) with the `wait` long-poll extension. A call with
 * `wait` gets an EventHold, kept on the request and in the server's set: the
 * pipeline aborts it when the client disconnects, close() aborts it with a
 * 503 fault as the reason. The hold is all a waiting poll adds (no
 * AbortController, timer or listener of its own).
 */
const list: Handler = async (req, res, route) => {
  const q = req.queryPairs();
  const { limit, marker } = pageParams(req);
  const types = paramValues(q, 'type');
  const type = types.length === 0 ? undefined : types.length === 1 ? types[0] : types;
  const wait = firstParam(q, 'wait');
  if (wait === undefined) {
    const page = await req.api.registry.listEvents(route.tenant, { limit, marker, type });
    return sendSharedPage(req, res, page);
  }

  const hold = new EventHold();
  req.hold = hold;
  const polls = req.api.polls;
  polls.add(hold);
  if (req.api.closing) hold.abort(faults.unavailable());
  else if (res.destroyed) hold.abort(new Error('client disconnected'));
  try {
    const page = await req.api.registry.listEvents(route.tenant, { limit, marker, type, wait, hold });
    sendSharedPage(req, res, page);
  } finally {
    polls.delete(hold);
  }
};

export const eventRoutes = { 'events.list': list } as const;
