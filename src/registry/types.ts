/** Wire-level shapes of the Service Registry v1.0 API (spec sections 5-10). */
import type { EventHold } from './event-hold.js';

export type Metadata = Record<string, string>;

/** A service as `GET /services/{id}` returns it. Key order matches the original server. */
export interface Service {
  id: string;
  tags: string[];
  metadata: Metadata;
  heartbeat_timeout: number;
  last_seen: number | null;
  /** Extension (sessions): present only on services bound to a session. */
  session_id?: string;
}

/** The payload of service.join / service.remove / service.timeout events (no last_seen). */
export interface ServicePayload {
  id: string;
  tags: string[];
  metadata: Metadata;
  heartbeat_timeout: number;
  session_id?: string;
}

export interface ConfigValue {
  id: string;
  value: string;
}

export const EVENT_TYPES = [
  'service.join',
  'service.remove',
  'service.timeout',
  'configuration_value.update',
  'configuration_value.remove',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** A key under a secret prefix (see registry/secret-prefixes.ts): values are null and `secret` is true. */
export interface ConfigUpdatePayload {
  old_value: string | null;
  new_value: string | null;
  configuration_value_id: string;
  secret?: true;
}
export interface ConfigRemovePayload {
  old_value: string | null;
  configuration_value_id: string;
  secret?: true;
}

export type RegistryEvent =
  | { id: string; timestamp: number; type: 'service.join' | 'service.remove' | 'service.timeout'; payload: ServicePayload }
  | { id: string; timestamp: number; type: 'configuration_value.update'; payload: ConfigUpdatePayload }
  | { id: string; timestamp: number; type: 'configuration_value.remove'; payload: ConfigRemovePayload };

/** Extension (spec section 10): a session keeps many services alive with one heartbeat chain. */
export interface Session {
  id: string;
  metadata: Metadata;
  heartbeat_timeout: number;
  last_seen: number | null;
}

export interface PageMetadata {
  count: number;
  limit: number;
  marker: string | null;
  next_marker: string | null;
  /** Filled in by the HTTP layer; the in-process registry leaves it null. */
  next_href: string | null;
}

export interface Page<T> {
  values: T[];
  metadata: PageMetadata;
}

export interface ResourceLimits {
  service: number;
  configuration_value: number;
  session: number;
}

export interface Limits {
  resource: ResourceLimits;
  rate: Record<string, { limit: number; used: number; window: string }>;
}

/** Raw pagination parameters: strings from a query string, or numbers from typed callers. */
export interface ListOptions {
  marker?: string | undefined;
  limit?: number | string | undefined;
}

export interface ServiceListOptions extends ListOptions {
  tag?: string | undefined;
}

export interface ConfigListOptions extends ListOptions {
  /** List only this namespace and its sub-namespaces, e.g. `/production/cassandra`. */
  namespace?: string | undefined;
}

export interface EventListOptions extends ListOptions {
  /** One type, or several when a query string repeats `type` (always rejected). */
  type?: string | string[] | undefined;
  /** Extension: hold the request up to this many seconds (0..60) until an event at or after marker exists. */
  wait?: number | string | undefined;
  /** In-process only (the server's long-polls): aborting it ends the wait, as a signal would, at a fraction of the cost. */
  hold?: EventHold | undefined;
}

export interface TokenReply {
  token: string;
}

/** Reply to create service. Services bound to a session have no token of their own. */
export interface CreateServiceReply {
  token: string | null;
}

export interface CreateSessionReply {
  id: string;
  token: string;
}
