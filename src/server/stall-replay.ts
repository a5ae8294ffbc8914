import { processStallClock } from '../lib/stall-clock.js';
import type { TokenReply } from '../registry/types.js';
import type { ApiRequest, ApiResponse } from './exchange.js';
import { sendJson } from './http-io.js';
import type { RouteMatch } from './router.js';

/**
 * Heartbeats right after a stall. While the server was stalled, a client's
 * heartbeat timed out and was retried with the same token; both requests sat
 * in the server's sockets. Run one after the other, the first consumes the
 * token and the retry is refused (404: the client believes its session or
 * service lost and registers everything again). For a few seconds after a
 * stall, heartbeats carrying the same token share one registry call and
 * reply. Outside that window the token chain is as strict as spec 6.7 says
 * (a second client on the same chain is refused at its next heartbeat).
 */

/** How long after a stall same-token heartbeats share one reply. */
export const AFTER_STALL_MS = 5_000;

const shared = new Map<string, Promise<TokenReply>>();

/**
 * Answers a `services.heartbeat` or `sessions.heartbeat` request when a stall
 * ended less than AFTER_STALL_MS ago; returns false, touching nothing,
 * otherwise (the ordinary handler then runs). Rejects with the registry's fault.
 */
export async function replayAfterStall(req: ApiRequest, res: ApiResponse, route: RouteMatch): Promise<boolean> {
  if (route.name !== 'services.heartbeat' && route.name !== 'sessions.heartbeat') return false;
  const token = (req.body as { token?: unknown } | null | undefined)?.token;
  if (typeof token !== 'string' || !processStallClock().stalledWithin(AFTER_STALL_MS)) return false;
  const key = `${route.name}\n${route.tenant}\n${route.id}\n${token}`;
  let reply = shared.get(key);
  if (reply === undefined) {
    const registry = req.api.registry;
    reply = route.name === 'sessions.heartbeat' ? registry.heartbeatSession(route.tenant, route.id, req.body) : registry.heartbeatService(route.tenant, route.id, req.body);
    shared.set(key, reply);
    setTimeout(() => shared.delete(key), AFTER_STALL_MS).unref();
  }
  sendJson(req, res, 200, { token: (await reply).token });
  return true;
}
