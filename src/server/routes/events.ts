import { faults } from '../../registry/faults.js';
import type { Handler } from '../exchange.js';
import { firstParam, paramValues } from '../query.js';
import { pageParams, sendSharedPage } from './page.js';

/**
 * `GET /events` (spec 9.3) with the `wait` long-poll extension. Each call gets
 * an AbortController, kept on the request and in the server's set: the
 * pipeline aborts it when the client disconnects, close() aborts it with a
 * 503 fault as the reason.
 */
const list: Handler = async (req, res, route) => {
  const q = req.queryPairs();
  const { limit, marker } = pageParams(req);
  const types = paramValues(q, 'type');
  const type = types.length === 0 ? undefined : types.length === 1 ? types[0] : types;
  const wait = firstParam(q, 'wait');

  const ctl = new AbortController();
  req.poll = ctl;
  const polls = req.api.polls;
  polls.add(ctl);
  if (req.api.closing) ctl.abort(faults.unavailable());
  else if (res.destroyed) ctl.abort(new Error('client disconnected'));
  try {
    const page = await req.api.registry.listEvents(route.tenant, { limit, marker, type, wait }, ctl.signal);
    sendSharedPage(req, res, page);
  } finally {
    polls.delete(ctl);
  }
};

export const eventRoutes = { 'events.list': list } as const;
