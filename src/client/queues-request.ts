import { queueFault } from '../queues/faults.js';

/**
 * Pure request building for the Cloud Queues v1 client (paths, query
 * strings, bodies), apart from the transport so it is tested without a
 * server. Where the wire cannot say what a typed caller asked for (no ids,
 * a fractional limit, a body JSON cannot hold) the domain's fault is raised
 * here, so HttpQueues fails as QueueService does.
 */

type Query = Record<string, string | number | boolean | undefined>;

/** The server's default cap on `wait` (seconds); a server caps a longer wait at its own maximum, as the domain does. */
const MAX_WAIT_SECONDS = 30;

/** What node:http sends in a header value as it is (tab, printable ASCII, Latin-1). */
export const HEADER_SAFE = /^[\t\x20-\x7e\x80-\xff]*$/;

const seg = (s: string): string => encodeURIComponent(s);
export const queuePath = (name: string): string => `/queues/${seg(name)}`;
export const messagePath = (name: string, id: string): string => `${queuePath(name)}/messages/${seg(id)}`;
export const claimPath = (name: string, id: string): string => `${queuePath(name)}/claims/${seg(id)}`;

/**
 * `?ids=a,b` with each id encoded and the commas literal (the list separator).
 * No ids cannot be said on the wire (without `ids` the route lists instead),
 * so it is refused here as the domain refuses it (1..max ids).
 */
export function idsQuery(ids: readonly string[]): string {
  if (ids.length === 0) throw queueFault('invalidApiCall', 'at least one message id is required');
  return `?ids=${ids.map(seg).join(',')}`;
}

/**
 * A `limit` the wire can carry: integer text. A fractional or non-finite
 * one cannot be sent as what it is, so it is refused here as the domain
 * refuses it (out of range: invalidApiCall); integers go as they are and
 * the server checks their range.
 */
export function wholeLimit(limit: number | undefined): number | undefined {
  if (limit !== undefined && !Number.isInteger(limit)) throw queueFault('invalidApiCall', `limit must be a whole number, not ${limit}`);
  return limit;
}

/** `wait` in seconds with ms precision (the server takes decimals), at most 30; undefined when not waiting. */
export function waitSeconds(waitMs: number | undefined): number | undefined {
  if (waitMs === undefined || !Number.isFinite(waitMs) || waitMs <= 0) return undefined;
  return Math.min(MAX_WAIT_SECONDS, Math.ceil(waitMs) / 1000);
}

/** `?a=1&b=true` from the defined entries (booleans as `true`/`false`, spec 2.4), or ''. */
export function query(params: Query): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.append(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

/** A body as JSON text; one JSON cannot carry (a BigInt, a cycle) is the domain's invalidBody. */
export function toJson(body: unknown): string | null {
  try {
    return JSON.stringify(body) ?? null;
  } catch (cause) {
    throw queueFault('invalidBody', 'the body cannot be written as JSON', cause);
  }
}
