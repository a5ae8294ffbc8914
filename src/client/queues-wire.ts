import { TetherError } from '../lib/errors.js';
import { QueueFault, faultForStatus } from '../queues/faults.js';
import type { Claim, Message, QueueList, QueueStats, StatsMessage } from '../queues/types.js';

/**
 * Pure translation between the Cloud Queues v1 wire (spec sections 4-6) and
 * the domain shapes of src/queues/types.ts, kept apart from the transport so
 * the parsing is unit-tested without a server. Ids are read from hrefs by
 * position (the last path segment), never derived from their contents.
 */

/** The id an href names: its last path segment, decoded (`/v1/queues/q/messages/ID?claim_id=C` -> ID). */
export function idFromHref(href: string): string {
  const path = href.split('?')[0] ?? '';
  const seg = path.replace(/\/+$/, '').split('/').pop() ?? '';
  if (seg === '') throw badResponse(`href without an id: ${href}`);
  return decodeURIComponent(seg);
}

/** A query parameter of an href (`marker` of a `next` link, `claim_id` of a claimed message), or undefined. */
export function hrefParam(href: string, name: string): string | undefined {
  const at = href.indexOf('?');
  if (at < 0) return undefined;
  return new URLSearchParams(href.slice(at + 1)).get(name) ?? undefined;
}

/** `{href, ttl, age, body}` -> Message; `claimId` when the href carries `claim_id` (a claim's message). */
export function parseMessage(raw: unknown): Message {
  const m = asObject(raw, 'message');
  const href = asString(m.href, 'message href');
  const msg: Message = { id: idFromHref(href), ttl: asNumber(m.ttl, 'message ttl'), age: asNumber(m.age, 'message age'), body: m.body };
  const claimId = hrefParam(href, 'claim_id');
  if (claimId !== undefined) msg.claimId = claimId;
  return msg;
}

/** GET /queues 200 body -> QueueList (names, plus metadata when the server sent it). */
export function parseQueueList(raw: unknown): QueueList {
  const items = asArray(asObject(raw, 'queue list').queues, 'queues');
  return {
    queues: items.map((item) => {
      const q = asObject(item, 'queue');
      const name = asString(q.name, 'queue name');
      return q.metadata === undefined ? { name } : { name, metadata: asObject(q.metadata, 'queue metadata') };
    }),
  };
}

/** GET .../messages 200 body -> the messages and the marker of the `next` link (absent when there is none). */
export function parseMessageList(raw: unknown): { messages: Message[]; marker?: string } {
  const o = asObject(raw, 'message list');
  const messages = asArray(o.messages, 'messages').map(parseMessage);
  const links = Array.isArray(o.links) ? (o.links as unknown[]) : [];
  const next = links.map((l) => asObject(l, 'link')).find((l) => l.rel === 'next');
  const marker = typeof next?.href === 'string' ? hrefParam(next.href, 'marker') : undefined;
  return marker === undefined ? { messages } : { messages, marker };
}

/** GET .../stats 200 body -> QueueStats (oldest/newest keep the message id of their href). */
export function parseStats(raw: unknown): QueueStats {
  const m = asObject(asObject(raw, 'stats').messages, 'stats messages');
  const stats: QueueStats = { claimed: asNumber(m.claimed, 'claimed'), free: asNumber(m.free, 'free'), total: asNumber(m.total, 'total') };
  if (m.oldest !== undefined) stats.oldest = statsMessage(m.oldest);
  if (m.newest !== undefined) stats.newest = statsMessage(m.newest);
  return stats;
}

function statsMessage(raw: unknown): StatsMessage {
  const o = asObject(raw, 'stats message');
  return { id: idFromHref(asString(o.href, 'stats href')), age: asNumber(o.age, 'stats age'), created: asString(o.created, 'created') };
}

/** GET .../claims/ID 200 body -> Claim. */
export function parseClaim(raw: unknown, claimId: string): Claim {
  const o = asObject(raw, 'claim');
  return { id: claimId, ttl: asNumber(o.ttl, 'claim ttl'), age: asNumber(o.age, 'claim age'), messages: asArray(o.messages, 'claim messages').map(parseMessage) };
}

/** POST .../messages 201 body -> the new ids, in request order (from `resources`). */
export function parsePostedIds(raw: unknown): string[] {
  return asArray(asObject(raw, 'post reply').resources, 'resources').map((r) => idFromHref(asString(r, 'resource')));
}

/**
 * The fault a non-2xx reply stands for, so an HttpQueues caller sees what a
 * QueueService caller sees: the kind from status and title (spec 2.7), the
 * description from the body. 404 has no body (spec A15). 401 comes from the
 * auth layer, outside the queues faults: TetherError `client.unauthorized`.
 * A status no kind has (a proxy's 502, a rate limit's 429) is `unavailable`.
 */
export function faultFromQueuesReply(status: number, text: string): TetherError {
  if (status === 401) return new TetherError('client.unauthorized', 'the server refused the token (401)');
  let body: Record<string, unknown> | undefined;
  try {
    const v: unknown = text === '' ? undefined : JSON.parse(text);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) body = v as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  const title = typeof body?.title === 'string' ? body.title : undefined;
  const description = typeof body?.description === 'string' ? body.description : (title ?? `HTTP ${status}`);
  if (status === 404) return new QueueFault('notFound', 'no such resource');
  return faultForStatus(status, title, description);
}

export function badResponse(what: string, cause?: unknown): TetherError {
  return new TetherError('client.badResponse', `unexpected reply from the queues API: ${what}`, cause === undefined ? undefined : { cause });
}

function asObject(v: unknown, what: string): Record<string, unknown> {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  throw badResponse(`${what} is not an object`);
}

function asArray(v: unknown, what: string): unknown[] {
  if (Array.isArray(v)) return v;
  throw badResponse(`${what} is not an array`);
}

function asString(v: unknown, what: string): string {
  if (typeof v === 'string') return v;
  throw badResponse(`${what} is not a string`);
}

function asNumber(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  throw badResponse(`${what} is not a number`);
}
