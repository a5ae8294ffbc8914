import type { QueueHandler } from '../context.js';
import { claimHref, messageView, sendEmpty, sendJson } from '../reply.js';
import { intParam, waitParam } from '../params.js';

/** Claim resources (spec 6): create, query, renew, release. */

/**
 * POST: 201 with Location and the claimed messages (claim-style hrefs), 204
 * when nothing could be claimed, also for a missing queue (spec A10).
 * Extension: `wait=S` holds up to S seconds for a message to become free.
 */
const create: QueueHandler = async (x) => {
  const { prefix, queue } = x.route;
  const limit = intParam(x.query, 'limit');
  const waitMs = waitParam(x.query, x.api.limits.maxWaitMs);
  const claim = await x.api.service.claimMessages(x.project, queue, x.body, { limit, waitMs }, waitMs ? x.poll() : undefined);
  if (claim !== null && x.res.destroyed) {
    // The client left while a post handed this waiting claim over (the domain returns a committed
    // claim even when the wait was aborted): nobody will read it, so its messages go back now, not
    // after the claim's ttl. A failure here is the client's loss anyway; the claim then expires.
    await x.api.service.releaseClaim(x.project, queue, claim.id).catch(() => undefined);
    return;
  }
  if (claim === null || claim.messages.length === 0) return sendEmpty(x.res, 204);
  const body = claim.messages.map((m) => messageView(prefix, queue, m, claim.id));
  sendJson(x.res, 201, body, ['Location', claimHref(prefix, queue, claim.id)]);
};

/** GET (200 `{age, ttl, href, messages}`), PATCH (204, renew) or DELETE (204, release). */
const claim: QueueHandler = async (x) => {
  const { prefix, queue, id } = x.route;
  const service = x.api.service;
  if (x.req.method === 'PATCH') {
    await service.renewClaim(x.project, queue, id, x.body);
    return sendEmpty(x.res, 204);
  }
  if (x.req.method === 'DELETE') {
    await service.releaseClaim(x.project, queue, id);
    return sendEmpty(x.res, 204);
  }
  const c = await service.getClaim(x.project, queue, id);
  const messages = c.messages.map((m) => messageView(prefix, queue, m, c.id));
  sendJson(x.res, 200, { age: c.age, ttl: c.ttl, href: claimHref(prefix, queue, c.id), messages }, ['Content-Location', x.uri]);
};

export const claimRoutes = { claims: create, claim } as const;
