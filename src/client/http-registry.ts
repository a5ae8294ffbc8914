import { HttpPool, type HttpDispatcher, type TlsOptions } from '../lib/http-pool.js';
import { apiCall, headerValue, type ApiTarget, type Reply } from './api-call.js';
import { TetherError } from '../lib/errors.js';
import type { Registry } from '../registry/registry.js';
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
} from '../registry/types.js';
import { configListPath, configPath, itemPath, parseRoot, query, tenantPath, type ApiRoot } from './paths.js';
import { faultFromReply } from './wire-fault.js';

export interface HttpRegistryOptions {
  /** Server root, e.g. `http://127.0.0.1:8470`, with or without a trailing `/v1.0`. */
  url: string;
  /** Sent as `X-Auth-Token` on every request. Never logged, never put in an error message. */
  token?: string | undefined;
  /** Per-request deadline, ms (default 10 s). Long-polls get `wait + 10 s` instead. */
  timeoutMs?: number | undefined;
  /** Bring your own connection pool (e.g. an HttpPool with TLS material). The caller owns it: `close()` leaves it open. */
  dispatcher?: HttpDispatcher | undefined;
  /** For an https URL: the CA, client certificate and key (PEM) and server name of the pool made here (not with `dispatcher`). */
  tls?: TlsOptions | undefined;
}

interface CallOptions {
  body?: unknown;
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
}

type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

const DEFAULT_TIMEOUT_MS = 10_000;
/** Slack on top of `wait` for a long-poll: the server answers at `wait`, the network adds the rest. */
const LONG_POLL_SLACK_MS = 10_000;

/**
 * The Registry interface over the v1.0 HTTP API (node:http, keep-alive pool, one per instance).
 *
 * Errors: a non-2xx reply becomes the RegistryFault it carries (see
 * `faultFromReply`); no reply at all becomes TetherError `client.unreachable`
 * (cause attached); no reply within the deadline `client.timeout`; a call after
 * `close()` `client.closed`; a 2xx that is not the JSON we expect
 * `client.badResponse`. On abort every method rejects with the signal's reason.
 */
export class HttpRegistry implements Registry {
  private readonly root: ApiRoot;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly dispatcher: HttpDispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly target: ApiTarget;
  private closing: Promise<void> | undefined;

  constructor(opts: HttpRegistryOptions) {
    this.root = parseRoot(opts.url);
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.ownsDispatcher = opts.dispatcher === undefined;
    // One pool per instance: keep-alive connections are reused across calls
    // (spec 6.7 asks heartbeaters for keep-alive); a send that crosses the
    // server's idle close is retried once on a new connection (see HttpPool).
    this.dispatcher = opts.dispatcher ?? new HttpPool(this.root.origin, opts.tls);
    this.target = {
      dispatcher: this.dispatcher,
      origin: this.root.origin,
      client: 'registry',
      peer: 'registry',
      fault: (status, text, headers) => faultFromReply(status, text, headerValue(headers['x-response-id'])),
    };
  }

  /** The server origin (no token, no path), for logs and messages. */
  get origin(): string {
    return this.root.origin;
  }

  getLimits(tenant: string, signal?: AbortSignal): Promise<Limits> {
    return this.json('GET', tenant, '/limits', { signal });
  }

  listServices(tenant: string, opts: ServiceListOptions = {}, signal?: AbortSignal): Promise<Page<Service>> {
    const q = query({ tag: opts.tag, marker: opts.marker, limit: opts.limit });
    return this.json('GET', tenant, `/services${q}`, { signal });
  }

  getService(tenant: string, id: string, signal?: AbortSignal): Promise<Service> {
    return this.json('GET', tenant, itemPath('services', id), { signal });
  }

  async createService(tenant: string, body: unknown, signal?: AbortSignal): Promise<CreateServiceReply> {
    const reply = await this.call('POST', tenant, '/services', { body, signal });
    // A service bound to a session gets no token; the legacy API sent no body at all.
    const parsed = reply.text === '' ? {} : parseJson<Partial<CreateServiceReply>>(reply, 'POST /services');
    return { token: typeof parsed.token === 'string' ? parsed.token : null };
  }

  async updateService(tenant: string, id: string, body: unknown, signal?: AbortSignal): Promise<void> {
    await this.call('PUT', tenant, itemPath('services', id), { body, signal });
  }

  async deleteService(tenant: string, id: string, signal?: AbortSignal): Promise<void> {
    await this.call('DELETE', tenant, itemPath('services', id), { signal });
  }

  heartbeatService(tenant: string, id: string, body: unknown, signal?: AbortSignal): Promise<TokenReply> {
    return this.json('POST', tenant, `${itemPath('services', id)}/heartbeat`, { body, signal });
  }

  listConfig(tenant: string, opts: ConfigListOptions = {}, signal?: AbortSignal): Promise<Page<ConfigValue>> {
    const q = query({ marker: opts.marker, limit: opts.limit });
    return this.json('GET', tenant, `${configListPath(opts.namespace)}${q}`, { signal });
  }

  getConfig(tenant: string, id: string, signal?: AbortSignal): Promise<ConfigValue> {
    return this.json('GET', tenant, configPath(id), { signal });
  }

  async setConfig(tenant: string, id: string, body: unknown, signal?: AbortSignal): Promise<void> {
    await this.call('PUT', tenant, configPath(id), { body, signal });
  }

  async deleteConfig(tenant: string, id: string, signal?: AbortSignal): Promise<void> {
    await this.call('DELETE', tenant, configPath(id), { signal });
  }

  /** With `wait`, the deadline is `wait + 10 s` (at least the default) so a long-poll is not cut short. */
  listEvents(tenant: string, opts: EventListOptions = {}, signal?: AbortSignal): Promise<Page<RegistryEvent>> {
    const q = query({ marker: opts.marker, limit: opts.limit, type: opts.type, wait: opts.wait });
    const waitMs = Number(opts.wait ?? 0) * 1000;
    const timeoutMs = Number.isFinite(waitMs) && waitMs > 0 ? Math.max(this.timeoutMs, waitMs + LONG_POLL_SLACK_MS) : this.timeoutMs;
    return this.json('GET', tenant, `/events${q}`, { signal, timeoutMs });
  }

  listSessions(tenant: string, opts: ServiceListOptions = {}, signal?: AbortSignal): Promise<Page<Session>> {
    const q = query({ marker: opts.marker, limit: opts.limit });
    return this.json('GET', tenant, `/sessions${q}`, { signal });
  }

  getSession(tenant: string, id: string, signal?: AbortSignal): Promise<Session> {
    return this.json('GET', tenant, itemPath('sessions', id), { signal });
  }

  /** The id comes from the body when the server sends it, else from the Location's last segment (spec 10). */
  async createSession(tenant: string, body: unknown, signal?: AbortSignal): Promise<CreateSessionReply> {
    const reply = await this.call('POST', tenant, '/sessions', { body, signal });
    const parsed = parseJson<Partial<CreateSessionReply>>(reply, 'POST /sessions');
    const id = typeof parsed.id === 'string' ? parsed.id : lastSegment(reply.headers.location);
    if (id === undefined || typeof parsed.token !== 'string') {
      throw new TetherError('client.badResponse', 'reply to POST /sessions lacks the session id or token');
    }
    return { id, token: parsed.token };
  }

  async updateSession(tenant: string, id: string, body: unknown, signal?: AbortSignal): Promise<void> {
    await this.call('PUT', tenant, itemPath('sessions', id), { body, signal });
  }

  async deleteSession(tenant: string, id: string, signal?: AbortSignal): Promise<void> {
    await this.call('DELETE', tenant, itemPath('sessions', id), { signal });
  }

  heartbeatSession(tenant: string, id: string, body: unknown, signal?: AbortSignal): Promise<TokenReply> {
    return this.json('POST', tenant, `${itemPath('sessions', id)}/heartbeat`, { body, signal });
  }

  /** Graceful: lets in-flight requests finish, then closes the pool (if it is ours). Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.ownsDispatcher ? this.dispatcher.close() : Promise.resolve();
    return this.closing;
  }

  /** Immediate: fails in-flight requests (long-polls included) and closes the pool (if it is ours). */
  async destroy(): Promise<void> {
    this.closing ??= Promise.resolve();
    if (this.ownsDispatcher) await this.dispatcher.destroy();
  }

  private async json<T>(method: HttpMethod, tenant: string, path: string, opts: CallOptions): Promise<T> {
    const reply = await this.call(method, tenant, path, opts);
    return parseJson<T>(reply, `${method} ${path.split('?')[0]}`);
  }

  /** One request: 2xx resolves with the reply, anything else rejects (see the class doc). */
  private call(method: HttpMethod, tenant: string, path: string, opts: CallOptions): Promise<Reply> {
    opts.signal?.throwIfAborted();
    if (this.closing) throw new TetherError('client.closed', 'the registry client is closed');
    return apiCall(this.target, {
      method,
      path: `${tenantPath(this.root, tenant)}${path}`,
      headers: this.headers(),
      body: opts.body === undefined ? null : JSON.stringify(opts.body),
      timeoutMs: opts.timeoutMs ?? this.timeoutMs,
      signal: opts.signal,
      // Registry writes are keyed (PUT/DELETE by id, heartbeats), and the pool's default has always applied.
      resendOnReset: true,
    });
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.token !== undefined) h['x-auth-token'] = this.token;
    return h;
  }
}

function parseJson<T>(reply: Reply, what: string): T {
  try {
    return JSON.parse(reply.text) as T;
  } catch (cause) {
    throw new TetherError('client.badResponse', `reply to ${what} (HTTP ${reply.status}) is not JSON`, { cause });
  }
}

function lastSegment(location: string | string[] | undefined): string | undefined {
  const loc = headerValue(location);
  if (!loc) return undefined;
  const seg = loc.replace(/\/+$/, '').split('/').pop();
  return seg ? decodeURIComponent(seg) : undefined;
}
