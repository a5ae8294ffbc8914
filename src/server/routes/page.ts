import type { Page } from '../../registry/types.js';
import type { ApiRequest, ApiResponse } from '../exchange.js';
import { origin, sendJson, sendJsonBytes } from '../http-io.js';
import { firstParam, nextHref } from '../query.js';

/**
 * Bodies of last pages (no next_href, so the same bytes for every caller), by
 * page object: followers woken by one change share one page read
 * (Events.readShared), and so one serialization. Weak: a page's bytes go
 * when the page does.
 */
const lastPageBytes = new WeakMap<Page<unknown>, Buffer>();

/** `limit` and `marker` as the client sent them (first occurrence), for the registry to validate. */
export function pageParams(req: ApiRequest): { limit: string | undefined; marker: string | undefined } {
  const q = req.queryPairs();
  return { limit: firstParam(q, 'limit'), marker: firstParam(q, 'marker') };
}

/**
 * Replies 200 with a list envelope, filling `next_href` (spec 4): the
 * request's own path (as received) and query, with the marker replaced.
 */
export function sendPage<T>(req: ApiRequest, res: ApiResponse, page: Page<T>): void {
  const next = page.metadata.next_marker;
  const next_href = next === null ? null : nextHref(origin(req) + req.rawPath, req.queryPairs(), next);
  sendJson(req, res, 200, { values: page.values, metadata: { ...page.metadata, next_href } });
}

/**
 * `sendPage` for a page object that may answer many requests (the events
 * feed): a last page is serialized once, on its first reply.
 */
export function sendSharedPage<T>(req: ApiRequest, res: ApiResponse, page: Page<T>): void {
  if (page.metadata.next_marker !== null) return sendPage(req, res, page);
  let body = lastPageBytes.get(page);
  if (body === undefined) {
    body = Buffer.from(JSON.stringify({ values: page.values, metadata: { ...page.metadata, next_href: null } }));
    lastPageBytes.set(page, body);
  }
  sendJsonBytes(req, res, 200, body);
}
