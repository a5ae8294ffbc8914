import { TetherError } from '../lib/errors.js';

/**
 * Pure URL building for the v1.0 API (spec 1.1, 8.2). Kept apart from the
 * transport so the tricky parts (double-slash configuration ids, namespace
 * listing, percent-encoding) are unit-tested without a server.
 */

export interface ApiRoot {
  /** `scheme://host[:port]`, no path. */
  origin: string;
  /** Path prefix before `/v1.0` (a reverse proxy mount), '' or `/x/y` without a trailing slash. */
  basePath: string;
}

/**
 * Parses a server root: `http://h:p`, `http://h:p/`, `http://h:p/v1.0` or
 * `http://h:p/mount/v1.0/`. Fails with `client.invalidUrl` for anything that
 * is not an absolute http(s) URL, or that carries a query or credentials (a
 * token belongs in `token`, never in a URL that ends up in logs).
 */
export function parseRoot(url: string): ApiRoot {
  const u = parseHttpUrl(url);
  let path = u.pathname.replace(/\/+$/, '');
  if (path.endsWith('/v1.0')) path = path.slice(0, -'/v1.0'.length);
  return { origin: u.origin, basePath: path };
}

/**
 * Splits a tenant URL `http://h:p[/mount]/v1.0/<tenant>[/]` into its root and
 * tenant (the Client's form). Fails with `client.invalidUrl`.
 */
export function parseTenantUrl(url: string): { root: ApiRoot; tenant: string } {
  const u = parseHttpUrl(url);
  const segments = u.pathname.split('/').filter((s) => s !== '');
  const at = segments.lastIndexOf('v1.0');
  const tenant = at >= 0 && at === segments.length - 2 ? segments[at + 1] : undefined;
  if (tenant === undefined) {
    throw new TetherError('client.invalidUrl', `registry URL must end in /v1.0/<tenant>: ${safeUrl(u)}`);
  }
  const mount = segments.slice(0, at).map((s) => `/${s}`).join('');
  return { root: { origin: u.origin, basePath: mount }, tenant: decodeURIComponent(tenant) };
}

function parseHttpUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch (cause) {
    throw new TetherError('client.invalidUrl', 'registry URL is not a valid absolute URL', { cause });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new TetherError('client.invalidUrl', `registry URL must use http or https: ${safeUrl(u)}`);
  }
  if (u.username !== '' || u.password !== '') {
    throw new TetherError('client.invalidUrl', 'registry URL must not contain credentials; pass the token separately');
  }
  if (u.search !== '' || u.hash !== '') {
    throw new TetherError('client.invalidUrl', `registry URL must not have a query or fragment: ${safeUrl(u)}`);
  }
  return u;
}

/** A URL for messages: origin and path only (no credentials, no query). */
function safeUrl(u: URL): string {
  return `${u.origin}${u.pathname}`;
}

const seg = (s: string): string => encodeURIComponent(s);

/** `/v1.0/<tenant>` under the root's mount. */
export function tenantPath(root: ApiRoot, tenant: string): string {
  return `${root.basePath}/v1.0/${seg(tenant)}`;
}

/** `/services/<id>` (and `/sessions/<id>`): one encoded segment. */
export function itemPath(collection: 'services' | 'sessions', id: string): string {
  return `/${collection}/${seg(id)}`;
}

/**
 * `/configuration/` + id with each `/`-separated part encoded and the slashes
 * kept, so a namespaced id gets the double-slash form both the original server
 * and ours accept (spec 8.2, AMB-11): `/configuration//production/cassandra`.
 */
export function configPath(id: string): string {
  return `/configuration/${id.split('/').map(seg).join('/')}`;
}

/**
 * The list form (spec 8.2): `/configuration` for everything, else
 * `/configuration/<ns without surrounding slashes>/` (single slash: the
 * original only listed that form correctly).
 */
export function configListPath(namespace: string | undefined): string {
  const ns = (namespace ?? '').replace(/^\/+|\/+$/g, '');
  if (ns === '') return '/configuration';
  return `/configuration/${ns.split('/').map(seg).join('/')}/`;
}

/** `?a=1&b=2` from the defined entries (arrays repeat the key), or '' when none. */
export function query(params: Record<string, string | number | readonly string[] | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) for (const item of v as readonly string[]) q.append(k, item);
    else q.append(k, String(v));
  }
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}
