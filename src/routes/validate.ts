import { faults } from '../registry/faults.js';
import { EVENT_TYPES, type EventType, type RegistryEvent } from '../registry/types.js';
import { DEFAULT_ROUTE_TTL, ROUTE_ID_RE, type EventRoute } from './types.js';

/** Queue names of Cloud Queues v1 (spec 3). */
const QUEUE_NAME_RE = /^[a-zA-Z0-9_-]{1,64}$/;
const MAX_FILTER_ITEMS = 64;
const MIN_TTL = 60;
/** The queues' default max message TTL (14 days). */
export const DEFAULT_MAX_ROUTE_TTL = 1_209_600;

export function checkRouteId(id: string): void {
  if (!ROUTE_ID_RE.test(id)) throw faults.validation('id', 'Route id must match /^[A-Za-z0-9_-]{1,64}$/');
}

/** The route a PUT body describes; faults name the first bad field, as the registry's own validation does. */
export function parseRoute(id: string, body: unknown, maxTtl = DEFAULT_MAX_ROUTE_TTL): EventRoute {
  checkRouteId(id);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw faults.validation('body', 'Body must be an object');
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) {
    if (!['queue', 'types', 'service_tags', 'key_prefixes', 'ttl'].includes(k)) throw faults.validation(k, 'Unknown field');
  }
  if (typeof b.queue !== 'string' || !QUEUE_NAME_RE.test(b.queue)) {
    throw faults.validation('queue', 'Queue name must match /^[a-zA-Z0-9_-]{1,64}$/');
  }
  const types = stringList(b.types, 'types');
  for (const t of types) {
    if (!(EVENT_TYPES as readonly string[]).includes(t)) throw faults.validation('types', `Unknown event type: ${t}`);
  }
  const ttl = b.ttl ?? Math.min(DEFAULT_ROUTE_TTL, maxTtl);
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < MIN_TTL || ttl > maxTtl) {
    throw faults.validation('ttl', `TTL must be an integer between ${MIN_TTL} and ${maxTtl} seconds`);
  }
  return {
    id,
    queue: b.queue,
    types: types as EventType[],
    service_tags: stringList(b.service_tags, 'service_tags'),
    key_prefixes: stringList(b.key_prefixes, 'key_prefixes'),
    ttl,
  };
}

function stringList(raw: unknown, key: string): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.length > MAX_FILTER_ITEMS || raw.some((s) => typeof s !== 'string' || s === '' || s.length > 255)) {
    throw faults.validation(key, `Must be an array of at most ${MAX_FILTER_ITEMS} non-empty strings`);
  }
  return [...new Set(raw as string[])];
}

/**
 * Types, when given, must include the event's type. Tags and key prefixes
 * select subjects: with either given, a service event must carry one of the
 * tags and a configuration event's key must start with one of the prefixes
 * (so `service_tags` alone routes no configuration events, and vice versa).
 */
export function routeMatches(route: EventRoute, ev: RegistryEvent): boolean {
  if (route.types.length > 0 && !route.types.includes(ev.type)) return false;
  if (route.service_tags.length === 0 && route.key_prefixes.length === 0) return true;
  const p = ev.payload;
  if ('configuration_value_id' in p) return route.key_prefixes.some((prefix) => p.configuration_value_id.startsWith(prefix));
  return route.service_tags.some((t) => p.tags.includes(t));
}
