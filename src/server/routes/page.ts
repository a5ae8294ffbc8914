import type { Page } from '../../registry/types.js';
import type { ApiRequest, ApiResponse } from '../exchange.js';
import { origin, sendJson } from '../http-io.js';
import { firstParam, nextHref } from '../query.js';

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
