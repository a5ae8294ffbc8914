import { faults } from '../../registry/faults.js';
import type { RouteStore } from '../../routes/route-store.js';
import type { ApiRequest, Handler } from '../exchange.js';
import { locationOf, sendJson, sendNoContent } from '../http-io.js';

/**
 * Tether extension (issue 16): `/v1.0/{tenant}/event-routes[/{id}]` configures
 * which of the tenant's registry events the server delivers into a queue of
 * the project of the same id. Fault bodies are the registry API's. A server
 * without the queues API has no such routes (404, as for any unknown path).
 */
function store(req: ApiRequest): RouteStore {
  const routes = req.api.routes;
  if (routes === undefined) throw faults.noRoute(req.rawPath);
  return routes;
}

const list: Handler = async (req, res, route) => {
  const values = await store(req).list(route.tenant);
  sendJson(req, res, 200, { values, metadata: { count: values.length, limit: values.length, marker: null, next_marker: null, next_href: null } });
};

const get: Handler = async (req, res, route) => {
  sendJson(req, res, 200, await store(req).get(route.tenant, route.id));
};

/** 201 + Location when created, 204 when an existing route's filter was replaced (its cursor kept). */
const set: Handler = async (req, res, route) => {
  const created = await store(req).set(route.tenant, route.id, req.body);
  const location = locationOf(req, route.tenant, 'event-routes', route.id);
  if (created) sendJson(req, res, 201, await store(req).get(route.tenant, route.id), location);
  else sendNoContent(req, res, location);
};

const remove: Handler = async (req, res, route) => {
  await store(req).delete(route.tenant, route.id);
  sendNoContent(req, res);
};

export const eventRouteHandlers = {
  'eventRoutes.list': list,
  'eventRoutes.get': get,
  'eventRoutes.set': set,
  'eventRoutes.delete': remove,
} as const;
