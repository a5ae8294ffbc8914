import { queueFault } from './faults.js';
import type { Project, QueueLimits } from './types.js';

/**
 * Checks shared by every call, in the spec's order (2.2): project, then queue
 * name, then the route's own checks. Each returns the value to use or throws
 * a QueueFault; none touches storage.
 */

const NAME = /^[a-zA-Z0-9_-]+$/;
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Empty project id -> emptyProject; longer than the limit -> invalidQueue (only where a queue is named). */
export function checkProject(project: Project, limits: Pick<QueueLimits, 'maxProjectIdLength'>, namesQueue: boolean): void {
  if (project === null) return;
  if (project === '') throw queueFault('emptyProject', 'X-Project-ID cannot be an empty string. Specify the right header X-Project-ID and retry.');
  if (namesQueue && project.length > limits.maxProjectIdLength) {
    throw queueFault('invalidQueue', `Project ids may not be more than ${limits.maxProjectIdLength} characters long.`);
  }
}

export function checkQueueName(name: string, limits: Pick<QueueLimits, 'maxQueueNameLength'>): void {
  if (typeof name !== 'string' || name.length > limits.maxQueueNameLength || !NAME.test(name)) {
    throw queueFault(
      'invalidQueue',
      `Queue names may not be more than ${limits.maxQueueNameLength} characters long, and may only contain ASCII letters, digits, underscores and dashes.`,
    );
  }
}

/**
 * A Client-ID parsed as Python's `uuid.UUID` does (32 hex digits, hyphens
 * optional, `{}` or `urn:uuid:` wrapper, any case), in canonical form, so
 * `echo` compares the same client however it spells its id.
 * Absent or empty -> missingHeader; not a UUID -> invalidApiCall.
 */
export function parseClientId(clientId: string | readonly string[] | undefined): string {
  if (clientId === undefined || clientId === '') throw queueFault('missingHeader', 'Missing "Client-ID" header.');
  // Almost every client sends the canonical form: one regex test, none of the rewriting below.
  if (typeof clientId === 'string' && CANONICAL_UUID.test(clientId)) return clientId;
  const text = typeof clientId === 'string' ? clientId : clientId.join(',');
  const hex = text.replace(/urn:/g, '').replace(/uuid:/g, '').replace(/^[{}]+|[{}]+$/g, '').replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw queueFault('invalidApiCall', 'Malformed hexadecimal UUID.');
  const h = hex.toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A page size or claim size: default when undefined, else an integer in 1..max (invalidApiCall). */
export function checkLimit(value: number | undefined, dflt: number, max: number, what: string): number {
  if (value === undefined) return dflt;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw queueFault('invalidApiCall', `Limit must be at least 1 and may not be greater than ${max}. (${what})`);
  }
  return value;
}

/** A wait: 0 when undefined, capped at the limit; negative or not a number -> invalidApiCall. */
export function checkWait(waitMs: number | undefined, limits: QueueLimits): number {
  if (waitMs === undefined) return 0;
  if (typeof waitMs !== 'number' || !(waitMs >= 0)) throw queueFault('invalidApiCall', 'The wait must be a non-negative number of seconds.');
  return Math.min(waitMs, limits.maxWaitMs);
}

/** 1..maxMessagesPerPage ids (empty strings count), else invalidApiCall. */
export function checkIds(ids: readonly string[], limits: QueueLimits): void {
  if (!Array.isArray(ids) || ids.length < 1 || ids.length > limits.maxMessagesPerPage) {
    throw queueFault('invalidApiCall', `No more than ${limits.maxMessagesPerPage} messages can be retrieved or deleted at once, and at least one id is needed.`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Nesting a JSON document may have. JSON.parse is iterative and takes any
 * depth, but V8's JSON.stringify recurses and throws RangeError a few
 * thousand levels down, with a limit that depends on the stack in use: a
 * body stored from a shallow stack could fail to serialize on a deeper one.
 */
export const MAX_JSON_DEPTH = 256;

/** True when `doc` nests containers deeper than `max` (an array or object is one level). Iterative. */
export function nestsDeeper(doc: unknown, max: number = MAX_JSON_DEPTH): boolean {
  if (typeof doc !== 'object' || doc === null) return false;
  // Two parallel stacks, not an object per node: this runs on every post and metadata write.
  const values: object[] = [doc];
  const depths: number[] = [1];
  while (values.length > 0) {
    const v = values.pop() as object;
    const d = depths.pop() as number;
    if (d > max) return true;
    const children: unknown[] = Array.isArray(v) ? v : Object.values(v);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) {
        values.push(child);
        depths.push(d + 1);
      }
    }
  }
  return false;
}

function checkDepth(doc: unknown): void {
  if (nestsDeeper(doc)) throw queueFault('invalidBody', `JSON documents may not nest deeper than ${MAX_JSON_DEPTH} levels.`);
}

/** Where markWireChecked leaves its mark: a symbol, so JSON and other Queues implementations never see it. */
const WIRE_CHECKED = Symbol('tether.queues.wireChecked');

type Marked = { [WIRE_CHECKED]?: number };

/**
 * Marks a document parsed from a request body whose reader (the HTTP layer)
 * checked, on the bytes received, that it has at most `bytes` bytes and
 * nests no deeper than MAX_JSON_DEPTH (spec 2.5: the limits are the wire
 * size's). checkPost and checkMetadata then skip serializing it again to
 * count its bytes, and walking it for depth, when `bytes` is within their
 * limit: on a post that was ~5 % of the request's CPU.
 */
export function markWireChecked(doc: unknown, bytes: number): void {
  if (typeof doc === 'object' && doc !== null) (doc as Marked)[WIRE_CHECKED] = bytes;
}

/** True when `doc` was marked as checked within `maxBytes`. */
function wireChecked(doc: unknown, maxBytes: number): boolean {
  if (typeof doc !== 'object' || doc === null) return false;
  const bytes = (doc as Marked)[WIRE_CHECKED];
  return bytes !== undefined && bytes <= maxBytes;
}

/** Bytes of `doc` as JSON (the wire body's size is checked by the HTTP layer; this holds for typed callers). */
export function jsonBytes(doc: unknown): number {
  const text = JSON.stringify(doc);
  return text === undefined ? 0 : Buffer.byteLength(text, 'utf8');
}

/** A metadata document: nesting (invalidBody), size (invalidApiCall), then an object (invalidBody). Returns it. */
export function checkMetadata(doc: unknown, limits: QueueLimits): Record<string, unknown> {
  if (!wireChecked(doc, limits.maxMetadataBytes)) {
    checkDepth(doc);
    if (jsonBytes(doc) > limits.maxMetadataBytes) {
      throw queueFault('invalidApiCall', `Queue metadata may not exceed ${limits.maxMetadataBytes} characters in size.`);
    }
  }
  if (!isObject(doc)) throw queueFault('invalidBody', 'Queue metadata must be a JSON object.');
  return doc;
}

function requireInt(doc: Record<string, unknown>, field: string): number {
  if (!(field in doc)) throw queueFault('invalidBody', `Missing "${field}" field.`);
  const v = doc[field];
  if (typeof v !== 'number' || !Number.isInteger(v)) throw queueFault('invalidBody', `The value of the "${field}" field must be an integer.`);
  return v;
}

function checkRange(v: number, min: number, max: number, what: string): void {
  if (v < min || v > max) throw queueFault('invalidApiCall', `The ${what} must be at least ${min} seconds long and may not exceed ${max} seconds.`);
}

export interface NewMessage {
  ttl: number;
  body: unknown;
}

/**
 * A post body, spec 5.1 steps 2-4: nesting (invalidBody, before anything
 * serializes it), size (invalidApiCall), an array of objects
 * with an integer `ttl` and a `body` (invalidBody; not empty), count and ttl
 * ranges (invalidApiCall, the whole request rejected).
 */
export function checkPost(messages: unknown, limits: QueueLimits): NewMessage[] {
  if (!wireChecked(messages, limits.maxMessagePostBytes)) {
    checkDepth(messages);
    if (jsonBytes(messages) > limits.maxMessagePostBytes) {
      throw queueFault('invalidApiCall', `Message collection size is too large. Max size ${limits.maxMessagePostBytes}`);
    }
  }
  if (!Array.isArray(messages)) throw queueFault('invalidBody', 'Document type not supported: messages must be a JSON array.');
  const out: NewMessage[] = [];
  for (const m of messages) {
    if (!isObject(m)) throw queueFault('invalidBody', 'Each message must be a JSON object.');
    const ttl = requireInt(m, 'ttl');
    if (!('body' in m)) throw queueFault('invalidBody', 'Missing "body" field.');
    out.push({ ttl, body: m.body });
  }
  if (out.length === 0) throw queueFault('invalidApiCall', 'No messages to enqueue.');
  if (limits.maxMessagesPerPost > 0 && out.length > limits.maxMessagesPerPost) {
    throw queueFault('invalidApiCall', `No more than ${limits.maxMessagesPerPost} messages may be posted at once.`);
  }
  for (const m of out) checkRange(m.ttl, limits.minMessageTtl, limits.maxMessageTtl, 'TTL for a message');
  return out;
}

/** A claim body `{ttl, grace}`: invalidBody for the shape, invalidApiCall for the ranges. */
export function checkClaimBody(body: unknown, limits: QueueLimits): { ttl: number; grace: number } {
  if (!isObject(body)) throw queueFault('invalidBody', 'Document type not supported: a claim must be a JSON object.');
  const ttl = requireInt(body, 'ttl');
  const grace = requireInt(body, 'grace');
  checkRange(ttl, limits.minClaimTtl, limits.maxClaimTtl, 'TTL for a claim');
  checkRange(grace, limits.minClaimGrace, limits.maxClaimGrace, 'grace for a claim');
  return { ttl, grace };
}

/** A renewal body `{ttl}` (any grace ignored, spec A17). */
export function checkRenewBody(body: unknown, limits: QueueLimits): number {
  if (!isObject(body)) throw queueFault('invalidBody', 'Document type not supported: a claim must be a JSON object.');
  const ttl = requireInt(body, 'ttl');
  checkRange(ttl, limits.minClaimTtl, limits.maxClaimTtl, 'TTL for a claim');
  return ttl;
}
