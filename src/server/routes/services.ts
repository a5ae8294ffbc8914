import type { Handler } from '../exchange.js';
import { locationOf, sendJson, sendNoContent } from '../http-io.js';
import { firstParam } from '../query.js';
import { pageParams, sendPage } from './page.js';

/** Services (spec section 6). Validation and the expiry pass happen in the registry. */

const list: Handler = async (req, res, route) => {
  const { limit, marker } = pageParams(req);
  const tag = firstParam(req.queryPairs(), 'tag');
  sendPage(req, res, await req.api.registry.listServices(route.tenant, { limit, marker, tag }));
};

const get: Handler = async (req, res, route) => {
  sendJson(req, res, 200, await req.api.registry.getService(route.tenant, route.id));
};

/** 201 + Location, body `{"token"}` (null for a service bound to a session). */
const create: Handler = async (req, res, route) => {
  const reply = await req.api.registry.createService(route.tenant, req.body);
  // The id is known valid once the registry accepted the body.
  const id = (req.body as { id: string }).id;
  sendJson(req, res, 201, { token: reply.token }, locationOf(req, route.tenant, 'services', id));
};

const update: Handler = async (req, res, route) => {
  await req.api.registry.updateService(route.tenant, route.id, req.body);
  sendNoContent(req, res, locationOf(req, route.tenant, 'services', route.id));
};

const remove: Handler = async (req, res, route) => {
  await req.api.registry.deleteService(route.tenant, route.id);
  sendNoContent(req, res);
};

const heartbeat: Handler = async (req, res, route) => {
  const reply = await req.api.registry.heartbeatService(route.tenant, route.id, req.body);
  sendJson(req, res, 200, { token: reply.token });
};

export const serviceRoutes = {
  'services.list': list,
  'services.get': get,
  'services.create': create,
  'services.update': update,
  'services.delete': remove,
  'services.heartbeat': heartbeat,
} as const;
