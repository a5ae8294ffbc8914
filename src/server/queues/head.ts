import { isQueueFault, queueFault, type QueueFault } from '../../queues/faults.js';
import type { Project } from '../../queues/types.js';
import { authenticate } from '../auth.js';
import type { ApiRequest } from '../exchange.js';
import type { QueryPair } from '../query.js';
import type { QueueApi } from './context.js';
import { checkAccept, checkQueueIdentity, clientIdOf, projectOf } from './headers.js';
import { listParam } from './params.js';
import { hasQueueName, type QueueRoute } from './router.js';
import type { BodyShape } from './json-body.js';

/**
 * The checks that need only the request head, in spec 2.2 order, run before
 * any body byte is kept:
 *
 *   1. route: unknown path -> 404; OPTIONS -> 204 + Allow; other method -> 405 + Allow
 *   2. auth (when the server has tokens; not for the home document and health,
 *      which reveal nothing and are what load balancers probe) -> 401
 *   3. Accept -> 406
 *   4. empty X-Project-Id -> 400
 *   5. project id length and queue name, on routes with {queue_name} -> 400
 *   6. Client-ID on post and list -> 400
 *   7. Content-Length over the route's cap -> 400 (bytes actually read are
 *      counted too, in pipeline.ts)
 *
 * Auth and projects: a token is valid for the project of the same id as the
 * tenant it was granted (`*` for every project). The project checked is the
 * one the request works on: the `/v1/{project_id}` path form's, else
 * X-Project-Id's. The global namespace (no project) needs a `*` token. A
 * token of another project gets the same 401 as an unknown one.
 */

export type HeadOutcome =
  | { kind: 'reply'; status: 204 | 405; allow: readonly string[] }
  | { kind: 'notFound' }
  | { kind: 'unauthorized'; description: string }
  | { kind: 'fault'; fault: QueueFault }
  | { kind: 'ok'; route: QueueRoute; project: Project; clientId: string | undefined; body: BodyPlan };

/** Whether and how the route reads its body, and the most bytes it may have. */
export interface BodyPlan {
  readonly shape: BodyShape | null;
  readonly cap: number;
}

/** Bodies of routes that ignore them are read (to keep the connection usable) but not kept. */
export function bodyPlan(route: QueueRoute, method: string, api: QueueApi): BodyPlan {
  const { maxMessagePostBytes, maxMetadataBytes } = api.limits;
  if (route.name === 'messages' && method === 'POST') return { shape: 'messages', cap: maxMessagePostBytes };
  if (route.name === 'metadata' && method === 'PUT') return { shape: 'any', cap: maxMetadataBytes };
  if ((route.name === 'claims' && method === 'POST') || (route.name === 'claim' && method === 'PATCH')) {
    return { shape: 'claim', cap: maxMetadataBytes };
  }
  return { shape: null, cap: maxMessagePostBytes };
}

function needsClientId(route: QueueRoute, method: string, query: readonly QueryPair[]): boolean {
  if (route.name !== 'messages') return false;
  return method === 'POST' || (method === 'GET' && listParam(query, 'ids') === undefined);
}

/** Runs checks 1-7 and says how to go on; throws only on a bug. */
export function checkHead(req: ApiRequest, route: QueueRoute | null, api: QueueApi): HeadOutcome {
  const method = req.method ?? '';
  if (route === null) return { kind: 'notFound' };
  if (method === 'OPTIONS') return { kind: 'reply', status: 204, allow: route.allow };
  if (!route.allowed) return { kind: 'reply', status: 405, allow: route.allow };
  const refused = authFailure(req, route);
  if (refused !== undefined) return { kind: 'unauthorized', description: refused };
  try {
    checkAccept(req.headers.accept, route.name === 'home');
    const project = projectOf(req.headers, route.pathProject);
    if (hasQueueName(route.name)) checkQueueIdentity(project, route.queue, api.limits);
    const clientId = needsClientId(route, method, req.queryPairs()) ? clientIdOf(req.headers['client-id']) : headerText(req.headers['client-id']);
    const body = bodyPlan(route, method, api);
    const length = Number(req.headers['content-length'] ?? 0);
    if (body.shape !== null && length > body.cap) return { kind: 'fault', fault: tooLarge(body.cap) };
    return { kind: 'ok', route, project, clientId, body };
  } catch (err) {
    if (isQueueFault(err)) return { kind: 'fault', fault: err };
    throw err;
  }
}

/** Why the token does not open the request's project, or undefined when it does (or the server has no tokens). */
function authFailure(req: ApiRequest, route: QueueRoute): string | undefined {
  const auth = req.api.auth;
  if (auth === undefined || route.name === 'home' || route.name === 'health') return undefined;
  const header = req.headers['x-auth-token'];
  const wanted = route.pathProject ?? req.headers['x-project-id'];
  try {
    // '*' as the tenant: only an every-tenant token matches it (the global namespace).
    authenticate(auth, typeof wanted === 'string' ? wanted : '*', typeof header === 'string' ? header : undefined);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : 'Unauthorized';
  }
}

function headerText(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h.join(',') : h;
}

export function tooLarge(cap: number): QueueFault {
  return queueFault('invalidApiCall', `The request body may not be larger than ${cap} bytes.`);
}
