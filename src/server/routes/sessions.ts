import type { Handler } from '../exchange.js';
import { locationOf, sendJson, sendNoContent } from '../http-io.js';
import { pageParams, sendPage } from './page.js';

/** The sessions extension (spec section 10, as Tether keeps it). */

const list: Handler = async (req, res, route) => {
  sendPage(req, res, await req.api.registry.listSessions(route.tenant, pageParams(req)));
};

const get: Handler = async (req, res, route) => {
  sendJson(req, res, 200, await req.api.registry.getSession(route.tenant, route.id));
};

/** 201 + Location `{base}/sessions/{id}`, body `{"id","token"}`. */
const create: Handler = async (req, res, route) => {
  const reply = await req.api.registry.createSession(route.tenant, req.body);
  sendJson(req, res, 201, { id: reply.id, token: reply.token }, locationOf(req, route.tenant, 'sessions', reply.id));
};

const update: Handler = async (req, res, route) => {
  await req.api.registry.updateSession(route.tenant, route.id, req.body);
  sendNoContent(req, res, locationOf(req, route.tenant, 'sessions', route.id));
};

const remove: Handler = async (req, res, route) => {
  await req.api.registry.deleteSession(route.tenant, route.id);
  sendNoContent(req, res);
};

const heartbeat: Handler = async (req, res, route) => {
  const reply = await req.api.registry.heartbeatSession(route.tenant, route.id, req.body);
  sendJson(req, res, 200, { token: reply.token });
};

export const sessionRoutes = {
  'sessions.list': list,
  'sessions.get': get,
  'sessions.create': create,
  'sessions.update': update,
  'sessions.delete': remove,
  'sessions.heartbeat': heartbeat,
} as const;
