import { faults } from '../registry/faults.js';
import { TENANT_RE } from '../registry/validate.js';

/**
 * Request path -> route, by splitting the path on `/` and comparing
 * segments (no regex chain): every route lives under `/v1.0/{tenant}`.
 *
 * Rules (spec 1.1 and 8.2):
 * - one trailing slash is ignored, except under `/configuration`, where it
 *   means "list a namespace";
 * - `//` is never collapsed in configuration paths;
 * - an unknown path, or a known path with another method, is no match (the
 *   caller answers 404; the API never answers 405);
 * - a malformed percent-escape anywhere in the path throws `URI malformed`
 *   (400), before any route is looked at.
 *
 * Not supported: the unprefixed routes with an `X-Tenant-Id` header (spec
 * 1.1 MAY); every path must carry the tenant.
 */

export type RouteName =
  | 'limits.get'
  | 'services.list'
  | 'services.create'
  | 'services.get'
  | 'services.update'
  | 'services.delete'
  | 'services.heartbeat'
  | 'config.list'
  | 'config.get'
  | 'config.set'
  | 'config.delete'
  | 'events.list'
  | 'sessions.list'
  | 'sessions.create'
  | 'sessions.get'
  | 'sessions.update'
  | 'sessions.delete'
  | 'sessions.heartbeat'
  | 'eventRoutes.list'
  | 'eventRoutes.get'
  | 'eventRoutes.set'
  | 'eventRoutes.delete';

export interface RouteMatch {
  readonly name: RouteName;
  readonly tenant: string;
  /** Service, session or configuration id from the path ('' when the route has none). */
  readonly id: string;
  /** `config.list` of one namespace, e.g. `/production/cassandra`; undefined lists everything. */
  readonly namespace: string | undefined;
}

interface CollectionRoutes {
  list: RouteName;
  create: RouteName;
  get: RouteName;
  update: RouteName;
  delete: RouteName;
  heartbeat: RouteName;
}

const SERVICES: CollectionRoutes = {
  list: 'services.list',
  create: 'services.create',
  get: 'services.get',
  update: 'services.update',
  delete: 'services.delete',
  heartbeat: 'services.heartbeat',
};

const SESSIONS: CollectionRoutes = {
  list: 'sessions.list',
  create: 'sessions.create',
  get: 'sessions.get',
  update: 'sessions.update',
  delete: 'sessions.delete',
  heartbeat: 'sessions.heartbeat',
};

const SLASH = 47;

function match(name: RouteName, tenant: string, id = '', namespace?: string): RouteMatch {
  return { name, tenant, id, namespace };
}

/**
 * Splits a path on `/` and percent-decodes each segment (an escaped `%2F`
 * stays inside its segment). Throws `faults.uriMalformed()` on a bad escape.
 */
export function decodeSegments(path: string): string[] {
  const segs = path.split('/');
  if (path.indexOf('%') === -1) return segs;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i] as string;
    if (s.indexOf('%') === -1) continue;
    try {
      segs[i] = decodeURIComponent(s);
    } catch {
      throw faults.uriMalformed();
    }
  }
  return segs;
}

/**
 * Returns the route for `method` and the encoded `path` (no query), or null
 * when none matches. Throws `faults.uriMalformed()` on a bad percent-escape.
 */
export function matchRoute(method: string, path: string): RouteMatch | null {
  const segs = decodeSegments(path);
  if (segs.length < 4 || segs[0] !== '' || segs[1] !== 'v1.0') return null;
  const tenant = segs[2] as string;
  if (!TENANT_RE.test(tenant)) return null;
  const resource = segs[3];
  if (resource === 'configuration') return matchConfiguration(method, tenant, segs);

  let n = segs.length;
  if (n > 4 && segs[n - 1] === '') n--; // one trailing slash is ignored
  switch (resource) {
    case 'services':
      return matchCollection(method, tenant, segs, n, SERVICES);
    case 'sessions':
      return matchCollection(method, tenant, segs, n, SESSIONS);
    case 'events':
      return n === 4 && method === 'GET' ? match('events.list', tenant) : null;
    case 'limits':
      return n === 4 && method === 'GET' ? match('limits.get', tenant) : null;
    case 'event-routes':
      return matchEventRoutes(method, tenant, segs, n);
    default:
      return null;
  }
}

/** Extension (issue 16): `/event-routes` (GET) and `/event-routes/{id}` (GET, PUT, DELETE). */
function matchEventRoutes(method: string, tenant: string, segs: string[], n: number): RouteMatch | null {
  if (n === 4) return method === 'GET' ? match('eventRoutes.list', tenant) : null;
  const id = segs[4] as string;
  if (n !== 5 || id === '') return null;
  if (method === 'GET') return match('eventRoutes.get', tenant, id);
  if (method === 'PUT') return match('eventRoutes.set', tenant, id);
  return method === 'DELETE' ? match('eventRoutes.delete', tenant, id) : null;
}

/** `/{collection}`, `/{collection}/{id}` and `/{collection}/{id}/heartbeat`; `n` segments count. */
function matchCollection(method: string, tenant: string, segs: string[], n: number, r: CollectionRoutes): RouteMatch | null {
  if (n === 4) {
    if (method === 'GET') return match(r.list, tenant);
    return method === 'POST' ? match(r.create, tenant) : null;
  }
  const id = segs[4] as string;
  if (id === '') return null;
  if (n === 5) {
    if (method === 'GET') return match(r.get, tenant, id);
    if (method === 'PUT') return match(r.update, tenant, id);
    return method === 'DELETE' ? match(r.delete, tenant, id) : null;
  }
  if (n === 6 && segs[5] === 'heartbeat' && method === 'POST') return match(r.heartbeat, tenant, id);
  return null;
}

/**
 * Spec 8.2. `P` is the decoded path after `/configuration/`, every slash kept:
 * - empty: list all (`/configuration` and `/configuration/`);
 * - ends with `/`: GET lists namespace `/` + P trimmed of slashes (all of
 *   them, so `/configuration//production/` works too; a P made only of
 *   slashes lists everything); PUT/DELETE fall through to the single-key
 *   form, so the registry rejects the id ending in `/` with 400 (AMB-10);
 * - otherwise one key: P itself, or `/` + P for the single-slash form
 *   (no leading slash but containing one, AMB-11).
 */
function matchConfiguration(method: string, tenant: string, segs: string[]): RouteMatch | null {
  const p = segs.length <= 5 ? (segs[4] ?? '') : segs.slice(4).join('/');
  if (p === '') return method === 'GET' ? match('config.list', tenant) : null;
  if (method === 'GET' && p.charCodeAt(p.length - 1) === SLASH) {
    const ns = trimSlashes(p);
    return match('config.list', tenant, '', ns === '' ? undefined : `/${ns}`);
  }
  const id = p.charCodeAt(0) === SLASH || p.indexOf('/') === -1 ? p : `/${p}`;
  if (method === 'GET') return match('config.get', tenant, id);
  if (method === 'PUT') return match('config.set', tenant, id);
  return method === 'DELETE' ? match('config.delete', tenant, id) : null;
}

function trimSlashes(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && s.charCodeAt(start) === SLASH) start++;
  while (end > start && s.charCodeAt(end - 1) === SLASH) end--;
  return s.slice(start, end);
}

/** Each route's path template: the `route` label of the request metrics (never the raw path). */
export const ROUTE_TEMPLATES: Readonly<Record<RouteName, string>> = {
  'limits.get': '/v1.0/{tenant}/limits',
  'services.list': '/v1.0/{tenant}/services',
  'services.create': '/v1.0/{tenant}/services',
  'services.get': '/v1.0/{tenant}/services/{id}',
  'services.update': '/v1.0/{tenant}/services/{id}',
  'services.delete': '/v1.0/{tenant}/services/{id}',
  'services.heartbeat': '/v1.0/{tenant}/services/{id}/heartbeat',
  'config.list': '/v1.0/{tenant}/configuration/{namespace}/',
  'config.get': '/v1.0/{tenant}/configuration/{key}',
  'config.set': '/v1.0/{tenant}/configuration/{key}',
  'config.delete': '/v1.0/{tenant}/configuration/{key}',
  'events.list': '/v1.0/{tenant}/events',
  'sessions.list': '/v1.0/{tenant}/sessions',
  'sessions.create': '/v1.0/{tenant}/sessions',
  'sessions.get': '/v1.0/{tenant}/sessions/{id}',
  'sessions.update': '/v1.0/{tenant}/sessions/{id}',
  'sessions.delete': '/v1.0/{tenant}/sessions/{id}',
  'sessions.heartbeat': '/v1.0/{tenant}/sessions/{id}/heartbeat',
  'eventRoutes.list': '/v1.0/{tenant}/event-routes',
  'eventRoutes.get': '/v1.0/{tenant}/event-routes/{id}',
  'eventRoutes.set': '/v1.0/{tenant}/event-routes/{id}',
  'eventRoutes.delete': '/v1.0/{tenant}/event-routes/{id}',
};
