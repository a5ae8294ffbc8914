import type { EventAnswer } from './event-poll.js';
import type {
  ConfigListOptions,
  ConfigValue,
  CreateServiceReply,
  CreateSessionReply,
  EventListOptions,
  Limits,
  Page,
  RegistryEvent,
  Service,
  ServiceListOptions,
  Session,
  TokenReply,
} from './types.js';

/**
 * The spine of Tether: the Service Registry v1.0 semantics for one tenant per call.
 *
 * Implementations: `RegistryService` (in-process, over a Store) and `HttpRegistry`
 * (a client of the HTTP API). Both raise `RegistryFault` with the spec's type,
 * status, message and details, so callers see the same errors either way.
 *
 * Bodies are `unknown` on purpose: validation (spec section 3.3, first failing
 * field in schema order) happens inside the registry, so a JSON body from the
 * wire and an object from a TypeScript caller are checked by the same code.
 * Every method takes an optional AbortSignal; on abort it rejects with the
 * signal's reason and changes nothing it had not already committed.
 */
export interface Registry {
  getLimits(tenant: string, signal?: AbortSignal): Promise<Limits>;

  listServices(tenant: string, opts?: ServiceListOptions, signal?: AbortSignal): Promise<Page<Service>>;
  getService(tenant: string, id: string, signal?: AbortSignal): Promise<Service>;
  /** Returns the initial heartbeat token (null for a service bound to a session). */
  createService(tenant: string, body: unknown, signal?: AbortSignal): Promise<CreateServiceReply>;
  /** Partial update: only the fields present change. */
  updateService(tenant: string, id: string, body: unknown, signal?: AbortSignal): Promise<void>;
  deleteService(tenant: string, id: string, signal?: AbortSignal): Promise<void>;
  /** Consumes `body.token` and returns the next one. */
  heartbeatService(tenant: string, id: string, body: unknown, signal?: AbortSignal): Promise<TokenReply>;

  listConfig(tenant: string, opts?: ConfigListOptions, signal?: AbortSignal): Promise<Page<ConfigValue>>;
  getConfig(tenant: string, id: string, signal?: AbortSignal): Promise<ConfigValue>;
  setConfig(tenant: string, id: string, body: unknown, signal?: AbortSignal): Promise<void>;
  deleteConfig(tenant: string, id: string, signal?: AbortSignal): Promise<void>;

  listEvents(tenant: string, opts?: EventListOptions, signal?: AbortSignal): Promise<Page<RegistryEvent>>;
  /**
   * In-process registries (optional): listEvents answered through `answer`
   * instead of a promise, for the server's long-polls (a waiting call then
   * holds no promise or closure of its own; `opts.hold` ends it early).
   */
  pollEvents?(tenant: string, opts: EventListOptions, answer: EventAnswer): void;

  listSessions(tenant: string, opts?: ServiceListOptions, signal?: AbortSignal): Promise<Page<Session>>;
  getSession(tenant: string, id: string, signal?: AbortSignal): Promise<Session>;
  createSession(tenant: string, body: unknown, signal?: AbortSignal): Promise<CreateSessionReply>;
  updateSession(tenant: string, id: string, body: unknown, signal?: AbortSignal): Promise<void>;
  /** Removes the session and every service bound to it (one service.remove event each). */
  deleteSession(tenant: string, id: string, signal?: AbortSignal): Promise<void>;
  heartbeatSession(tenant: string, id: string, body: unknown, signal?: AbortSignal): Promise<TokenReply>;

  /** Graceful: finish what is in flight, stop timers, release storage. Idempotent. */
  close(): Promise<void>;
}
