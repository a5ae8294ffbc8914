import type { Handler } from '../exchange.js';
import { sendJson } from '../http-io.js';

/** `GET /limits` (spec 5.3). */
const getLimits: Handler = async (req, res, route) => {
  sendJson(req, res, 200, await req.api.registry.getLimits(route.tenant));
};

export const limitRoutes = { 'limits.get': getLimits } as const;
