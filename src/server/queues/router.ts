/**
 * Cloud Queues v1 routing (spec section 1): `/v1/...` paths, and the same
 * paths under `/v1/{project_id}/...` (Rackspace's form; the path project
 * overrides `X-Project-Id`, spec A7).
 *
 * A second path segment of `queues` or `health` is always the resource, so a
 * project literally named `queues` or `health` must use the header. One
 * trailing slash is ignored; an empty segment (`/queues//stats`) matches
 * nothing. A known path with another method is a 405 (with Allow), never a 404.
 */

import { targetPathStart } from '../exchange.js';

export type QueueRouteName =
  | 'home'
  | 'health'
  | 'queues.list'
  | 'queue'
  | 'metadata'
  | 'stats'
  | 'messages'
  | 'message'
  | 'claims'
  | 'claim';

export interface QueueRoute {
  readonly name: QueueRouteName;
  /** Methods the path answers (the `Allow` header of 405 and OPTIONS). */
  readonly allow: readonly string[];
  /** True when `allow` holds the request's method. */
  readonly allowed: boolean;
  /** The project id from the path form (decoded), else undefined. */
  readonly pathProject: string | undefined;
  /** `/v1` or `/v1/{project_id}` as received: every href of the reply starts with it. */
  readonly prefix: string;
  /** Decoded `{queue_name}` ('' on routes without one). */
  readonly queue: string;
  /** Decoded `{message_id}` or `{claim_id}` ('' on routes without one). */
  readonly id: string;
}

const ALLOW: Record<QueueRouteName, readonly string[]> = {
  home: ['GET'],
  health: ['GET', 'HEAD'],
  'queues.list': ['GET'],
  queue: ['PUT', 'GET', 'HEAD', 'DELETE'],
  metadata: ['GET', 'PUT'],
  stats: ['GET'],
  messages: ['POST', 'GET', 'DELETE'],
  message: ['GET', 'DELETE'],
  claims: ['POST'],
  claim: ['GET', 'PATCH', 'DELETE'],
};

/** Route names whose path carries `{queue_name}` (spec 2.2 step 4 applies). */
export function hasQueueName(name: QueueRouteName): boolean {
  return name !== 'home' && name !== 'health' && name !== 'queues.list';
}

/** True when the request target belongs to the queues API: `/v1`, `/v1/...` or `/v1?...` (also in absolute form). */
export function isQueuesTarget(url: string): boolean {
  const start = targetPathStart(url);
  if (start < 0) return false;
  if (!url.startsWith('/v1', start)) return false;
  const next = url.charCodeAt(start + 3);
  return Number.isNaN(next) || next === 47 /* / */ || next === 63 /* ? */;
}

/** A path segment percent-decoded; a malformed escape leaves it as received (names then fail validation). */
export function decodeSegment(seg: string): string {
  if (seg.indexOf('%') === -1) return seg;
  try {
    return decodeURIComponent(seg);
  } catch {
    return seg;
  }
}

/**
 * The route of `method` on the encoded `path` (no query), or null when the
 * path is unknown (404). A match with `allowed` false is a 405.
 */
export function matchQueueRoute(method: string, path: string): QueueRoute | null {
  const segs = path.split('/');
  if (segs[0] !== '' || segs[1] !== 'v1') return null;
  if (segs.length > 2 && segs[segs.length - 1] === '') segs.pop(); // one trailing slash
  let rest = 2;
  let pathProject: string | undefined;
  let prefix = '/v1';
  const second = segs[2];
  if (second !== undefined && second !== 'queues' && second !== 'health') {
    if (second === '') return null;
    pathProject = decodeSegment(second);
    prefix = `/v1/${second}`;
    rest = 3;
  }
  const name = routeName(segs, rest);
  if (name === null) return null;
  const allow = ALLOW[name];
  const queue = hasQueueName(name) ? decodeSegment(segs[rest + 1] as string) : '';
  const id = name === 'message' || name === 'claim' ? decodeSegment(segs[rest + 3] as string) : '';
  return { name, allow, allowed: allow.includes(method), pathProject, prefix, queue, id };
}

/** The route of the segments from `i` on (after `/v1` or `/v1/{project_id}`), or null. */
function routeName(segs: readonly string[], i: number): QueueRouteName | null {
  const n = segs.length - i;
  if (n === 0) return 'home';
  const first = segs[i];
  if (first === 'health') return n === 1 ? 'health' : null;
  if (first !== 'queues') return null;
  if (n === 1) return 'queues.list';
  if (segs[i + 1] === '') return null;
  if (n === 2) return 'queue';
  const sub = segs[i + 2];
  if (n === 3) {
    if (sub === 'metadata' || sub === 'stats' || sub === 'messages' || sub === 'claims') return sub;
    return null;
  }
  if (n !== 4 || segs[i + 3] === '') return null;
  if (sub === 'messages') return 'message';
  return sub === 'claims' ? 'claim' : null;
}
