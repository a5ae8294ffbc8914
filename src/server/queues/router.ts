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
  let start = 0;
  if (url.charCodeAt(0) !== 47) {
    const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i.exec(url);
    if (m === null) return false;
    start = m[0].length;
  }
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
  const found = matchRest(segs, rest);
  if (found === null) return null;
  const allow = ALLOW[found.name];
  return { ...found, allow, allowed: allow.includes(method), pathProject, prefix };
}

function matchRest(segs: string[], i: number): { name: QueueRouteName; queue: string; id: string } | null {
  const n = segs.length - i;
  const at = (k: number): string => segs[i + k] as string;
  if (n === 0) return { name: 'home', queue: '', id: '' };
  if (at(0) === 'health') return n === 1 ? { name: 'health', queue: '', id: '' } : null;
  if (at(0) !== 'queues') return null;
  if (n === 1) return { name: 'queues.list', queue: '', id: '' };
  if (at(1) === '') return null;
  const queue = decodeSegment(at(1));
  if (n === 2) return { name: 'queue', queue, id: '' };
  const sub = at(2);
  if (n === 3) {
    if (sub === 'metadata') return { name: 'metadata', queue, id: '' };
    if (sub === 'stats') return { name: 'stats', queue, id: '' };
    if (sub === 'messages') return { name: 'messages', queue, id: '' };
    if (sub === 'claims') return { name: 'claims', queue, id: '' };
    return null;
  }
  if (n !== 4 || at(3) === '') return null;
  if (sub === 'messages') return { name: 'message', queue, id: decodeSegment(at(3)) };
  if (sub === 'claims') return { name: 'claim', queue, id: decodeSegment(at(3)) };
  return null;
}
