import { queueFault } from '../../../queues/faults.js';
import type { QueueExchange, QueueHandler } from '../context.js';
import { boolParam, intParam, LINK_PARAMS, listParam, nextLink, param, waitParam } from '../params.js';
import { encodeId, messageHref, messageView, sendEmpty, sendJson } from '../reply.js';

/** Message resources (spec 5): post, list, get by ids, bulk delete, get one, delete one. */

/** POST: 201 with Location `...messages?ids=a,b` and `{resources, partial: false}` (spec 5.1). */
const post: QueueHandler = async (x) => {
  const { prefix, queue } = x.route;
  const ids = await x.api.service.postMessages(x.project, queue, x.clientId, x.body);
  const resources = ids.map((id) => messageHref(prefix, queue, id));
  const location = `${x.path}?ids=${ids.map(encodeId).join(',')}`;
  sendJson(x.res, 201, { resources, partial: false }, ['Location', location]);
};

/** GET with `ids`: a bare array, 204 when none exist (spec 5.3). */
const getMany = async (x: QueueExchange, ids: string[]): Promise<void> => {
  const { prefix, queue } = x.route;
  const found = await x.api.service.getMessages(x.project, queue, ids);
  if (found.length === 0) return sendEmpty(x.res, 204);
  sendJson(x.res, 200, found.map((m) => messageView(prefix, queue, m)), ['Content-Location', x.uri]);
};

/**
 * GET without `ids`: one page after `marker`, with a `next` link; 204 when
 * nothing matches (spec 5.2). Extension: `wait=S` holds an empty answer up to
 * S seconds for a message to arrive (long-poll).
 */
const list: QueueHandler = async (x) => {
  const q = x.query;
  const ids = listParam(q, 'ids');
  if (ids !== undefined) return getMany(x, ids);
  const opts = {
    clientId: x.clientId,
    marker: param(q, 'marker'),
    limit: intParam(q, 'limit'),
    echo: boolParam(q, 'echo'),
    includeClaimed: boolParam(q, 'include_claimed'),
    waitMs: waitParam(q, x.api.limits.maxWaitMs),
  };
  const page = await x.api.service.listMessages(x.project, x.route.queue, opts, opts.waitMs ? x.poll() : undefined);
  if (page.messages.length === 0 || page.marker === undefined) return sendEmpty(x.res, 204);
  const { prefix, queue } = x.route;
  const messages = page.messages.map((m) => messageView(prefix, queue, m));
  const links = [{ rel: 'next', href: nextLink(x.path, q, LINK_PARAMS.messages, page.marker) }];
  sendJson(x.res, 200, { messages, links }, ['Content-Location', x.uri]);
};

/** DELETE with `ids` (required: the whole collection cannot be deleted), 204 (spec 5.4). */
const bulkDelete: QueueHandler = async (x) => {
  const ids = listParam(x.query, 'ids');
  if (ids === undefined) throw queueFault('missingQuery', 'The "ids" query parameter is required.');
  await x.api.service.deleteMessages(x.project, x.route.queue, ids);
  sendEmpty(x.res, 204);
};

const messages: QueueHandler = (x) => {
  const m = x.req.method;
  return m === 'POST' ? post(x) : m === 'DELETE' ? bulkDelete(x) : list(x);
};

/** GET one (200 or 404, `claim_id` ignored) or DELETE one (204, 403 when another claim holds it). */
const message: QueueHandler = async (x) => {
  const { prefix, queue, id } = x.route;
  if (x.req.method === 'DELETE') {
    await x.api.service.deleteMessage(x.project, queue, id, param(x.query, 'claim_id'));
    return sendEmpty(x.res, 204);
  }
  const m = await x.api.service.getMessage(x.project, queue, id);
  sendJson(x.res, 200, messageView(prefix, queue, m), ['Content-Location', x.uri]);
};

export const messageRoutes = { messages, message } as const;
