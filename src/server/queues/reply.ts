import { RETRY_AFTER_SECONDS, type QueueFault } from '../../queues/faults.js';
import type { Message } from '../../queues/types.js';
import type { ApiResponse } from '../exchange.js';

/**
 * Replies of spec 2.6/2.7: JSON with `charset=utf-8`, 204s without a body,
 * faults as `{title, description}` except 404 and 405 (empty), 503 with
 * `Retry-After`. Every reply carries `Connection: close` once the server is
 * closing. Nothing is written when the client is gone or a reply was sent.
 */

const JSON_TYPE = 'application/json; charset=utf-8';
const JSON_HOME_TYPE = 'application/json-home';

function writable(res: ApiResponse): boolean {
  return !res.headersSent && !res.destroyed;
}

function finish(res: ApiResponse, status: number, headers: string[], body: string | undefined): void {
  if (res.req.api.closing) headers.push('Connection', 'close');
  if (body === undefined) {
    if (status !== 204) headers.push('Content-Length', '0');
    res.writeHead(status, headers);
    res.end();
  } else {
    headers.push('Content-Length', String(Buffer.byteLength(body)));
    res.writeHead(status, headers);
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }
}

/** A JSON reply; `headers` are extra name/value pairs (Location, Content-Location). */
export function sendJson(res: ApiResponse, status: number, value: unknown, headers: string[] = []): void {
  if (!writable(res)) return;
  finish(res, status, ['Content-Type', JSON_TYPE, ...headers], JSON.stringify(value));
}

/** The JSON-Home document (spec 7), cacheable for a day. */
export function sendHome(res: ApiResponse, doc: unknown): void {
  if (!writable(res)) return;
  finish(res, 200, ['Content-Type', JSON_HOME_TYPE, 'Cache-Control', 'max-age=86400'], JSON.stringify(doc));
}

/** A reply without a body (204, or a 201/404 with only headers). */
export function sendEmpty(res: ApiResponse, status: number, headers: string[] = []): void {
  if (!writable(res)) return;
  finish(res, status, headers, undefined);
}

/** A fault: 404 empty, 503 with Retry-After, `{title, description}` otherwise. */
export function sendFault(res: ApiResponse, fault: QueueFault, extraHeaders: string[] = []): void {
  if (!writable(res)) return;
  const body = fault.toBody();
  const headers = [...extraHeaders];
  if (fault.status === 503) headers.push('Retry-After', String(RETRY_AFTER_SECONDS));
  if (body === undefined) return finish(res, fault.status, headers, undefined);
  finish(res, fault.status, ['Content-Type', JSON_TYPE, ...headers], JSON.stringify(body));
}

/** 405 with `Allow` and an empty body (spec 1), or OPTIONS' 204 with `Allow`. */
export function sendAllow(res: ApiResponse, status: 204 | 405, allow: readonly string[]): void {
  if (!writable(res)) return;
  finish(res, status, ['Allow', allow.join(', ')], undefined);
}

/** 401 from the auth layer: `{title, description}`, WWW-Authenticate; the description never holds the token. */
export function sendUnauthorized(res: ApiResponse, description: string): void {
  if (!writable(res)) return;
  const body = JSON.stringify({ title: 'Unauthorized', description });
  finish(res, 401, ['Content-Type', JSON_TYPE, 'WWW-Authenticate', 'Keystone uri="tether"'], body);
}

/** A 500 for a bug: the request's fault is ours, the text says nothing of it. */
export function sendInternal(res: ApiResponse): void {
  if (!writable(res)) return;
  const body = JSON.stringify({ title: 'Internal server error', description: 'The request could not be completed.' });
  finish(res, 500, ['Content-Type', JSON_TYPE], body);
}

// ---- hrefs (server-relative, built from the request's prefix: `/v1` or `/v1/{project_id}`) ----

/** `{prefix}/queues/{name}` (names are [A-Za-z0-9_-]: nothing to escape). */
export function queueHref(prefix: string, queue: string): string {
  return `${prefix}/queues/${queue}`;
}

/** Characters encodeURIComponent leaves as they are. */
const UNRESERVED = /^[\w.~-]*$/;

/** encodeURIComponent, skipped for what it would not change: our ids are hex, and a post's reply holds one per message. */
export function encodeId(id: string): string {
  return UNRESERVED.test(id) ? id : encodeURIComponent(id);
}

export function messageHref(prefix: string, queue: string, id: string, claimId?: string): string {
  const href = `${prefix}/queues/${queue}/messages/${encodeId(id)}`;
  return claimId === undefined ? href : `${href}?claim_id=${encodeId(claimId)}`;
}

export function claimHref(prefix: string, queue: string, id: string): string {
  return `${prefix}/queues/${queue}/claims/${encodeId(id)}`;
}

/** The wire form of a message: exactly href, ttl, age, body (spec 5); claim-style href when `claimId` is given. */
export function messageView(prefix: string, queue: string, m: Message, claimId?: string): { href: string; ttl: number; age: number; body: unknown } {
  return { href: messageHref(prefix, queue, m.id, claimId), ttl: m.ttl, age: m.age, body: m.body };
}
