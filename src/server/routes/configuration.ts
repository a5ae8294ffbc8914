import type { Handler } from '../exchange.js';
import { locationOf, sendJson, sendNoContent } from '../http-io.js';
import { pageParams, sendPage } from './page.js';

/**
 * Configuration (spec section 8). The router has already applied the
 * addressing rules of 8.2: `route.id` is the full key (leading `/` for a
 * namespaced one), `route.namespace` the namespace of a list call.
 */

const list: Handler = async (req, res, route) => {
  const { limit, marker } = pageParams(req);
  sendPage(req, res, await req.api.registry.listConfig(route.tenant, { limit, marker, namespace: route.namespace }));
};

const get: Handler = async (req, res, route) => {
  sendJson(req, res, 200, await req.api.registry.getConfig(route.tenant, route.id));
};

/** 204 + Location; a namespaced id gives `.../configuration//production/x` (spec 1.4). */
const set: Handler = async (req, res, route) => {
  await req.api.registry.setConfig(route.tenant, route.id, req.body);
  sendNoContent(req, res, locationOf(req, route.tenant, 'configuration', route.id));
};

const remove: Handler = async (req, res, route) => {
  await req.api.registry.deleteConfig(route.tenant, route.id);
  sendNoContent(req, res);
};

export const configurationRoutes = {
  'config.list': list,
  'config.get': get,
  'config.set': set,
  'config.delete': remove,
} as const;
