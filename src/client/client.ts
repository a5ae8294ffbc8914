import { randomUUID } from 'node:crypto';
import type { HttpDispatcher, TlsOptions } from '../lib/http-pool.js';
import { TetherError } from '../lib/errors.js';
import type { Queues } from '../queues/queues.js';
import { isFault } from '../registry/faults.js';
import type { Registry } from '../registry/registry.js';
import type {
  ConfigListOptions,
  ConfigValue,
  CreateServiceReply,
  CreateSessionReply,
  EventListOptions,
  Limits,
  Metadata,
  Page,
  RegistryEvent,
  Service,
  ServiceListOptions,
  Session,
  TokenReply,
} from '../registry/types.js';
import { sleep } from '../lib/backoff.js';
import { HeartBeater, type KeeperOptions } from './heartbeater.js';
import { HttpRegistry } from './http-registry.js';
import { parseTenantUrl } from './paths.js';
import { HttpQueues } from './queues.js';
import { ProjectQueues } from './queues-project.js';

/** A create-service body as a typed caller writes it (the registry validates it either way). */
export interface NewServiceBody {
  id: string;
  heartbeat_timeout?: number;
  tags?: string[];
  metadata?: Metadata;
  /** Extension: bind the service to a session instead of giving it its own token chain. */
  session_id?: string;
}

export interface ServicePatchBody {
  tags?: string[] | null;
  metadata?: Metadata | null;
  heartbeat_timeout?: number;
}

export interface SessionBody {
  heartbeat_timeout?: number;
  metadata?: Metadata | null;
}

export interface RegisterOptions {
  /** Creates to try in all (default 15, as the Node client). */
  retries?: number;
  /** Pause between tries while the id is taken, ms (default 2000, spec 6.7). */
  intervalMs?: number;
  signal?: AbortSignal;
}

/** Over HTTP: a tenant URL `http://host:port/v1.0/<tenant>`. */
export interface ClientUrlOptions {
  url: string;
  token?: string | undefined;
  timeoutMs?: number | undefined;
  dispatcher?: HttpDispatcher | undefined;
  /** For an https URL: CA, client certificate and key (PEM), server name; used by both the registry and the queues pools. */
  tls?: TlsOptions | undefined;
  /** Client-ID of `queues` (a UUID; default a random one per Client). */
  clientId?: string | undefined;
}

/** In-process (or any Registry): the caller owns `registry` (and `queues`), so `close()` leaves them open. */
export interface ClientRegistryOptions {
  registry: Registry;
  tenant: string;
  /** Cloud Queues for `client.queues` (the tenant is the project); without it `client.queues` throws. */
  queues?: Queues | undefined;
  clientId?: string | undefined;
}

export type ClientOptions = ClientUrlOptions | ClientRegistryOptions;

/**
 * The public client for one tenant: the Registry calls without the tenant
 * argument, plus `register` and `listAll` helpers. Thin on purpose: errors are
 * the Registry's (RegistryFault, TetherError `client.*`), every call takes an
 * optional AbortSignal last.
 */
export class Client {
  readonly tenant: string;
  readonly registry: Registry;
  private readonly owned: boolean;
  /** Makes the queues view on first use (an HTTP client opens no connection before its first call). */
  private readonly openQueues: () => { view: ProjectQueues; owned?: HttpQueues };
  private queuesView: { view: ProjectQueues; owned?: HttpQueues } | undefined;

  constructor(opts: ClientOptions) {
    if ('registry' in opts) {
      this.registry = opts.registry;
      this.tenant = opts.tenant;
      this.owned = false;
      const { queues, clientId } = opts;
      this.openQueues = () => {
        if (queues === undefined) throw new TetherError('client.noQueues', 'this Client was made without `queues`');
        return { view: new ProjectQueues(queues, opts.tenant, clientId ?? randomUUID()) };
      };
    } else {
      const { root, tenant } = parseTenantUrl(opts.url);
      this.registry = new HttpRegistry({
        url: `${root.origin}${root.basePath}`,
        token: opts.token,
        timeoutMs: opts.timeoutMs,
        dispatcher: opts.dispatcher,
        tls: opts.tls,
      });
      this.tenant = tenant;
      this.owned = true;
      this.openQueues = () => {
        const http = new HttpQueues({
          url: `${root.origin}${root.basePath}`,
          token: opts.token,
          timeoutMs: opts.timeoutMs,
          dispatcher: opts.dispatcher,
          tls: opts.tls,
          clientId: opts.clientId,
        });
        return { view: new ProjectQueues(http, tenant, http.clientId), owned: http };
      };
    }
  }

  /** The tenant's Cloud Queues (the tenant id is the project id), over the same server and token. */
  get queues(): ProjectQueues {
    this.queuesView ??= this.openQueues();
    return this.queuesView.view;
  }

  readonly services = {
    list: (opts?: ServiceListOptions, signal?: AbortSignal): Promise<Page<Service>> =>
      this.registry.listServices(this.tenant, opts, signal),
    /** Every page, following next_marker. */
    listAll: (opts: Omit<ServiceListOptions, 'marker'> = {}, signal?: AbortSignal): Promise<Service[]> =>
      listAll((marker) => this.registry.listServices(this.tenant, { ...opts, marker }, signal)),
    get: (id: string, signal?: AbortSignal): Promise<Service> => this.registry.getService(this.tenant, id, signal),
    create: (body: NewServiceBody, signal?: AbortSignal): Promise<CreateServiceReply> =>
      this.registry.createService(this.tenant, body, signal),
    update: (id: string, patch: ServicePatchBody, signal?: AbortSignal): Promise<void> =>
      this.registry.updateService(this.tenant, id, patch, signal),
    delete: (id: string, signal?: AbortSignal): Promise<void> => this.registry.deleteService(this.tenant, id, signal),
    /** Consumes `token`, returns the next one. */
    heartbeat: (id: string, token: string, signal?: AbortSignal): Promise<TokenReply> =>
      this.registry.heartbeatService(this.tenant, id, { token }, signal),
  };

  readonly configuration = {
    list: (opts?: ConfigListOptions, signal?: AbortSignal): Promise<Page<ConfigValue>> =>
      this.registry.listConfig(this.tenant, opts, signal),
    listAll: (opts: Omit<ConfigListOptions, 'marker'> = {}, signal?: AbortSignal): Promise<ConfigValue[]> =>
      listAll((marker) => this.registry.listConfig(this.tenant, { ...opts, marker }, signal)),
    get: (id: string, signal?: AbortSignal): Promise<ConfigValue> => this.registry.getConfig(this.tenant, id, signal),
    set: (id: string, value: string, signal?: AbortSignal): Promise<void> =>
      this.registry.setConfig(this.tenant, id, { value }, signal),
    delete: (id: string, signal?: AbortSignal): Promise<void> => this.registry.deleteConfig(this.tenant, id, signal),
  };

  readonly events = {
    list: (opts?: EventListOptions, signal?: AbortSignal): Promise<Page<RegistryEvent>> =>
      this.registry.listEvents(this.tenant, opts, signal),
    /** Every page from `marker` (inclusive) to now; no long-poll. */
    listAll: (opts: Omit<EventListOptions, 'wait'> = {}, signal?: AbortSignal): Promise<RegistryEvent[]> =>
      listAll((marker) => this.registry.listEvents(this.tenant, { ...opts, marker }, signal), opts.marker),
  };

  readonly sessions = {
    list: (opts?: ServiceListOptions, signal?: AbortSignal): Promise<Page<Session>> =>
      this.registry.listSessions(this.tenant, opts, signal),
    listAll: (signal?: AbortSignal): Promise<Session[]> =>
      listAll((marker) => this.registry.listSessions(this.tenant, { marker }, signal)),
    get: (id: string, signal?: AbortSignal): Promise<Session> => this.registry.getSession(this.tenant, id, signal),
    create: (body: SessionBody, signal?: AbortSignal): Promise<CreateSessionReply> =>
      this.registry.createSession(this.tenant, body, signal),
    update: (id: string, patch: SessionBody, signal?: AbortSignal): Promise<void> =>
      this.registry.updateSession(this.tenant, id, patch, signal),
    delete: (id: string, signal?: AbortSignal): Promise<void> => this.registry.deleteSession(this.tenant, id, signal),
    heartbeat: (id: string, token: string, signal?: AbortSignal): Promise<TokenReply> =>
      this.registry.heartbeatSession(this.tenant, id, { token }, signal),
  };

  limits(signal?: AbortSignal): Promise<Limits> {
    return this.registry.getLimits(this.tenant, signal);
  }

  /**
   * Creates the service, retrying every `intervalMs` while the id is taken
   * (spec 6.7: the previous instance died and has not timed out yet).
   * Rejects with the last `serviceWithThisIdExists` after `retries` tries, at
   * once with any other error, and with the signal's reason on abort.
   */
  async register(body: NewServiceBody, opts: RegisterOptions = {}): Promise<CreateServiceReply> {
    const tries = Math.max(1, opts.retries ?? 15);
    const intervalMs = opts.intervalMs ?? 2000;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.registry.createService(this.tenant, body, opts.signal);
      } catch (err) {
        if (!isFault(err, 'serviceWithThisIdExists') || attempt >= tries) throw err;
      }
      await sleep(intervalMs, opts.signal);
      opts.signal?.throwIfAborted();
    }
  }

  /** A HeartBeater for one of this tenant's services (not started). */
  heartBeater(serviceId: string, opts: KeeperOptions): HeartBeater {
    return new HeartBeater({ ...opts, registry: this.registry, tenant: this.tenant, serviceId });
  }

  /** Closes the HTTP connections when the client made them; a Registry (or Queues) passed in is left open. */
  async close(): Promise<void> {
    await this.queuesView?.owned?.close();
    if (this.owned) await this.registry.close();
  }
}

/** Collects every page, following `next_marker` (inclusive: the next page starts at it). */
async function listAll<T>(fetchPage: (marker: string | undefined) => Promise<Page<T>>, first?: string): Promise<T[]> {
  const all: T[] = [];
  let marker = first;
  for (;;) {
    const page = await fetchPage(marker);
    all.push(...page.values);
    const next = page.metadata.next_marker;
    if (next === null || next === marker || page.values.length === 0) return all;
    marker = next;
  }
}
