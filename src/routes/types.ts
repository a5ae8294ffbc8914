import type { EventType } from '../registry/types.js';

/**
 * An event route (Tether extension, issue 16): the registry events of one
 * tenant that match its filter are delivered into a queue of the project of
 * the same id, in feed order, each exactly once.
 */
export interface EventRoute {
  id: string;
  /** Queue name in the tenant's project (created when missing). */
  queue: string;
  /** Event types to deliver; empty = every type. */
  types: EventType[];
  /** Service events whose service has one of these tags; empty = no tag filter. */
  service_tags: string[];
  /** Configuration events whose key starts with one of these; empty = no key filter. */
  key_prefixes: string[];
  /** TTL of each delivered message, seconds. */
  ttl: number;
}

/** A route as the API shows it: its definition and how far delivery got. */
export interface EventRouteStatus extends EventRoute {
  /** Id of the last event delivered or skipped (null: none since the route was set). */
  last_event: string | null;
  /** Events delivered into the queue since the route was first set. */
  delivered: number;
}

/** Messages live a day by default: long enough for a paused worker fleet, short enough not to pile up. */
export const DEFAULT_ROUTE_TTL = 86_400;
/** Ids are path segments and metric labels: short and plain. */
export const ROUTE_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
