import type { QueueHandler } from '../context.js';
import { sendEmpty, sendHome } from '../reply.js';

/** `GET /v1` (JSON-Home, spec 7) and `/v1/health`. */

const JSON_FORMATS = { 'application/json': {} };

function relation(template: string, vars: Record<string, string>, allow: string[], post = false): Record<string, unknown> {
  const hints: Record<string, unknown> = { allow, formats: JSON_FORMATS };
  if (post) hints['accept-post'] = ['application/json'];
  return { 'href-template': template, 'href-vars': vars, hints };
}

/** The home document of one prefix (`/v1`, or `/v1/{project_id}` for the path form). */
export function homeDocument(prefix: string): Record<string, unknown> {
  const q = `${prefix}/queues/{queue_name}`;
  const name = { queue_name: 'param/queue_name' };
  return {
    resources: {
      'rel/queues': relation(`${prefix}/queues{?marker,limit,detailed}`, { marker: 'param/marker', limit: 'param/queue_limit', detailed: 'param/detailed' }, ['GET']),
      'rel/queue': relation(q, name, ['GET', 'HEAD', 'PUT', 'DELETE']),
      'rel/queue-metadata': relation(`${q}/metadata`, name, ['GET', 'PUT']),
      'rel/queue-stats': relation(`${q}/stats`, name, ['GET']),
      'rel/messages': relation(
        `${q}/messages{?marker,limit,echo,include_claimed}`,
        { ...name, marker: 'param/marker', limit: 'param/messages_limit', echo: 'param/echo', include_claimed: 'param/include_claimed' },
        ['GET'],
      ),
      'rel/post-messages': relation(`${q}/messages`, name, ['POST'], true),
      'rel/claim': relation(`${q}/claims{?limit}`, { ...name, limit: 'param/claim_limit' }, ['POST'], true),
    },
  };
}

const home: QueueHandler = async (x) => {
  sendHome(x.res, homeDocument(x.route.prefix));
};

/** 204 when storage answers; the domain's `unavailable` fault becomes the 503. */
const health: QueueHandler = async (x) => {
  await x.api.service.health();
  sendEmpty(x.res, 204);
};

export const homeRoutes = { home, health } as const;
