import type { QueueHandler } from '../context.js';
import { boolParam, intParam, LINK_PARAMS, nextLink, param } from '../params.js';
import { messageHref, queueHref, sendEmpty, sendJson } from '../reply.js';

/** Queue resources (spec 4): create, exists, delete, list, metadata, stats. */

/** PUT: 201 created / 204 existed, both with Location; the body is ignored (spec 4.1). */
const create: QueueHandler = async (x) => {
  const created = await x.api.service.createQueue(x.project, x.route.queue);
  sendEmpty(x.res, created ? 201 : 204, ['Location', x.path]);
};

/** GET and HEAD: 204 or 404, no body either way. */
const exists: QueueHandler = async (x) => {
  const found = await x.api.service.queueExists(x.project, x.route.queue);
  sendEmpty(x.res, found ? 204 : 404, found ? ['Content-Location', x.path] : []);
};

const remove: QueueHandler = async (x) => {
  await x.api.service.deleteQueue(x.project, x.route.queue);
  sendEmpty(x.res, 204);
};

const queue: QueueHandler = (x) => {
  const m = x.req.method;
  return m === 'PUT' ? create(x) : m === 'DELETE' ? remove(x) : exists(x);
};

/** GET /queues: 200 page with a `next` link (present on the last page too), 204 when empty (spec 4.4). */
const list: QueueHandler = async (x) => {
  const q = x.query;
  const opts = { marker: param(q, 'marker'), limit: intParam(q, 'limit'), detailed: boolParam(q, 'detailed') };
  const { queues } = await x.api.service.listQueues(x.project, opts);
  const last = queues[queues.length - 1];
  if (last === undefined) return sendEmpty(x.res, 204);
  const prefix = x.route.prefix;
  const items = queues.map((item) =>
    item.metadata === undefined
      ? { name: item.name, href: queueHref(prefix, item.name) }
      : { name: item.name, href: queueHref(prefix, item.name), metadata: item.metadata },
  );
  const links = [{ rel: 'next', href: nextLink(x.path, q, LINK_PARAMS.queues, last.name) }];
  sendJson(x.res, 200, { queues: items, links }, ['Content-Location', x.uri]);
};

/** GET returns the document; PUT replaces it (size, then body, then existence: the domain's order). */
const metadata: QueueHandler = async (x) => {
  if (x.req.method === 'PUT') {
    await x.api.service.setMetadata(x.project, x.route.queue, x.body);
    return sendEmpty(x.res, 204, ['Location', x.path]);
  }
  const doc = await x.api.service.getMetadata(x.project, x.route.queue);
  sendJson(x.res, 200, doc, ['Content-Location', x.path]);
};

/** Counts, plus oldest/newest only when the queue holds messages (spec 4.6). */
const stats: QueueHandler = async (x) => {
  const s = await x.api.service.getStats(x.project, x.route.queue);
  const { prefix, queue: name } = x.route;
  const messages: Record<string, unknown> = { claimed: s.claimed, free: s.free, total: s.total };
  if (s.oldest !== undefined) messages.oldest = { age: s.oldest.age, created: s.oldest.created, href: messageHref(prefix, name, s.oldest.id) };
  if (s.newest !== undefined) messages.newest = { age: s.newest.age, created: s.newest.created, href: messageHref(prefix, name, s.newest.id) };
  sendJson(x.res, 200, { messages }, ['Content-Location', x.path]);
};

export const queueRoutes = { 'queues.list': list, queue, metadata, stats } as const;
