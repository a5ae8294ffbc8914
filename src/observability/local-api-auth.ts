import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { TetherError } from '../lib/errors.js';

/**
 * The local API's token (issue 19 item 2). On loopback the API is open to
 * the host's own processes, as Consul's agent API is by default; bound
 * beyond it, anyone on the network could deregister services (reload, TTL
 * fail, maintenance), so the agent refuses to start without a token there.
 *
 * The guard is by route, not by handler: every request needs the token
 * except GET/HEAD of /healthz, /readyz and /metrics (what load balancers,
 * kubelets and Prometheus call), so an endpoint added later is covered
 * without a line of its own. /v1/status is guarded too: it names services
 * and their checks. A configured token is required on loopback as well.
 */

/** Where the token comes from: `TETHER_AGENT_TOKEN` (what `tether maint --token` also reads), else `agent.api_token_file`. */
export const AGENT_TOKEN_ENV = 'TETHER_AGENT_TOKEN';

/**
 * The local API token: `TETHER_AGENT_TOKEN` when set and not empty, else the
 * contents of `file` (trailing whitespace dropped), else undefined. Rejects
 * with `agent.api_token_unreadable` naming the file (never its contents).
 */
export async function resolveApiToken(env: NodeJS.ProcessEnv, file: string | null): Promise<string | undefined> {
  const fromEnv = env[AGENT_TOKEN_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (file === null) return undefined;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new TetherError('agent.api_token_unreadable', `agent.api_token_file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const token = text.trimEnd();
  if (token === '') throw new TetherError('agent.api_token_unreadable', `agent.api_token_file ${file} is empty`);
  return token;
}

const OPEN_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** True for an address only this host can reach: 127.0.0.0/8, ::1, an IPv4-mapped loopback, `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h) || h === '0:0:0:0:0:0:0:1';
  return false;
}

/** Throws `agent.api_token_required` for a non-loopback `host` without a token: refused before listening. */
export function checkListenToken(host: string, token: string | undefined): void {
  if (!isLoopback(host) && (token === undefined || token === '')) {
    throw new TetherError(
      'agent.api_token_required',
      `agent.listen ${host} is not a loopback address: set ${AGENT_TOKEN_ENV} (or agent.api_token_file) so that only holders of the token can reload, report checks or set maintenance`,
    );
  }
}

/** The request's path as the router sees it (same parse, so the guard and the router never disagree). */
export function routePath(req: IncomingMessage): string {
  const url = new URL(req.url ?? '/', 'http://local');
  return url.pathname.replace(/\/+$/, '') || '/';
}

/**
 * Whether the request may go on: an open route, no token configured, or the
 * token in `Authorization: Bearer T` or `X-Tether-Token: T` (compared in
 * constant time, as digests, so neither its bytes nor its length leak).
 */
export function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined || token === '') return true;
  const method = req.method ?? 'GET';
  if ((method === 'GET' || method === 'HEAD') && OPEN_PATHS.has(routePath(req))) return true;
  const given = presented(req);
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

function presented(req: IncomingMessage): string | undefined {
  const header = req.headers['x-tether-token'];
  if (typeof header === 'string' && header !== '') return header;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
