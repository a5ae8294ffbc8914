import { randomBytes } from 'node:crypto';

/**
 * Where the queues live in a Store.
 *
 *   q/n/{ns}/{name}              queue record (metadata)                 durable
 *   q/d/{ns}/{name}/c            marker counter: the last marker used     durable
 *   q/d/{ns}/{name}/m/{marker}   message, marker zero-padded: post order durable
 *   q/d/{ns}/{name}/k/{claimId}  claim record (ttl, expiry, its markers)  durable
 *
 * `ns` is `g` for the global namespace and `p` + the escaped project id for a
 * project, so the global namespace is distinct from every project (spec A7)
 * and no project's prefix is a prefix of another's (escaping leaves no '/').
 * Queue records sit apart from queue data so a queue listing reads records
 * only, and the expiry sweep finds every queue under one prefix (`q/n/`).
 * Queue names are ASCII `[a-zA-Z0-9_-]`, so key order is name byte order.
 *
 * A message id is the marker (12 hex digits) followed by 12 random hex
 * digits: get, delete and claim by id need no index key, and an id left over
 * from a deleted queue does not match the recreated queue's message that
 * reuses its marker.
 */
export const QUEUES_PREFIX = 'q/';
export const RECORDS_PREFIX = 'q/n/';
export const DATA_PREFIX = 'q/d/';
const MARKER_WIDTH = 16;

const PLAIN = /^[A-Za-z0-9_-]*$/;

/** The key segment of a project (null = global). Bytes outside [A-Za-z0-9_-] are %XX-escaped. */
export function namespaceOf(project: string | null): string {
  if (project === null) return 'g';
  // Almost every project id needs no escape: one regex test, no bytes walked (runs on every request).
  if (PLAIN.test(project)) return `p${project}`;
  let out = 'p';
  for (const byte of Buffer.from(project, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Keys of one queue, built once per call. */
export interface QueueKeys {
  /** `ns/name`, the queue's identity within the service (hints, waiters). */
  id: string;
  record: string;
  data: string;
  counter: string;
  messages: string;
  claims: string;
}

export function queueKeys(project: string | null, name: string): QueueKeys {
  const id = `${namespaceOf(project)}/${name}`;
  const data = `${DATA_PREFIX}${id}/`;
  return {
    id,
    record: `${RECORDS_PREFIX}${id}`,
    data,
    counter: `${data}c`,
    messages: `${data}m/`,
    claims: `${data}k/`,
  };
}

export function recordsPrefix(project: string | null): string {
  return `${RECORDS_PREFIX}${namespaceOf(project)}/`;
}

export function messageKey(keys: QueueKeys, marker: number): string {
  return `${keys.messages}${String(marker).padStart(MARKER_WIDTH, '0')}`;
}

/** The marker of a message key (its last segment). */
export function markerOfKey(key: string): number {
  return Number(key.slice(key.length - MARKER_WIDTH));
}

/** For a data key `q/d/{ns}/{name}/m/{marker}`: the queue id and marker; null for any other key. */
export function parseMessageKey(key: string): { queueId: string; marker: number } | null {
  if (!key.startsWith(DATA_PREFIX)) return null;
  const at = key.length - MARKER_WIDTH - 3;
  if (at <= DATA_PREFIX.length || key.slice(at, at + 3) !== '/m/') return null;
  return { queueId: key.slice(DATA_PREFIX.length, at), marker: markerOfKey(key) };
}

const ID = /^[0-9a-f]{24}$/;

// Random bytes come from a pool refilled 4 KiB at a time (as transaction ids do, http-io.ts): one
// crypto call per ~680 message ids or ~340 claim ids instead of one per post and per claim.
const POOL_BYTES = 4096;
let pool = randomBytes(POOL_BYTES);
let poolPos = 0;

/** `bytes` random bytes as hex. */
function randomHex(bytes: number): string {
  if (poolPos + bytes > pool.length) {
    pool = randomBytes(Math.max(POOL_BYTES, bytes));
    poolPos = 0;
  }
  const hex = pool.toString('hex', poolPos, poolPos + bytes);
  poolPos += bytes;
  return hex;
}

/** `count` new message ids for consecutive markers from `first`. */
export function newMessageIds(first: number, count: number): string[] {
  const rnd = randomHex(6 * count);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push(`${(first + i).toString(16).padStart(12, '0')}${rnd.slice(i * 12, i * 12 + 12)}`);
  return ids;
}

/** The marker an id names, or null when the id is malformed. */
export function markerOfId(id: string): number | null {
  if (!ID.test(id)) return null;
  const marker = parseInt(id.slice(0, 12), 16);
  return marker >= 1 ? marker : null;
}

export function newClaimId(): string {
  return randomHex(12);
}

export function isWellFormedId(id: string): boolean {
  return ID.test(id);
}

/** A list marker (decimal text of a marker), or null when malformed. */
export function parseListMarker(marker: string): number | null {
  if (!/^\d{1,15}$/.test(marker)) return null;
  return Number(marker);
}
