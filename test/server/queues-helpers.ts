import { randomUUID } from 'node:crypto';
import { createQueueService, type QueueService } from '../../src/queues/service.js';
import type { QueueLimits } from '../../src/queues/types.js';
import { RegistryService } from '../../src/registry/service.js';
import { createRegistryServer, type AuthTable, type RegistryServer } from '../../src/server/index.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';
import { etcdStores } from '../helpers/registries.js';
import { raw, type RawOptions, type RawReply } from './helpers.js';

/** The registry's server with the queues API, over a real QueueService on in-memory SQLite (or etcd), on 127.0.0.1:0. */
export interface QueuesTestServer {
  port: number;
  url: string;
  server: RegistryServer;
  /** The store and service behind it, for tests that plant data or call the domain directly. */
  store: Store;
  queues: QueueService;
  close(): Promise<void>;
}

export async function startQueuesServer(
  opts: {
    auth?: AuthTable;
    limits?: Partial<QueueLimits>;
    /** What the queue service sees of the store (fault or timing injection). */
    wrapStore?: (s: Store) => Store;
    /** Store in this etcd (under a prefix of its own, removed at close) instead of in-memory SQLite. */
    etcdEndpoints?: string[];
  } = {},
): Promise<QueuesTestServer> {
  const opened = opts.etcdEndpoints === undefined ? undefined : await etcdStores(() => opts.etcdEndpoints as string[])();
  const store = opened?.store ?? openSqliteStore({ path: ':memory:' });
  const registry = await RegistryService.open(store, { reaperIntervalMs: 0 });
  const queueStore = opts.wrapStore === undefined ? store : opts.wrapStore(store);
  const queues = await createQueueService(queueStore, opts.limits === undefined ? {} : { limits: opts.limits });
  const server = createRegistryServer(registry, {
    hostname: 'testhost',
    queues,
    ...(opts.auth !== undefined ? { auth: opts.auth } : {}),
  });
  const { url, port } = await server.listen(0, '127.0.0.1');
  return {
    port,
    url,
    server,
    store,
    queues,
    async close() {
      await server.close();
      await queues.close();
      await registry.close();
      await (opened ?? store).close();
    },
  };
}

/** The headers the upstream functional tests send: JSON Accept, a project, a fresh Client-ID. */
export function defaultHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { accept: 'application/json', 'x-project-id': '123456', 'client-id': randomUUID(), 'content-type': 'application/json', ...extra };
}

/** A client bound to one port and header set; paths are sent as given. */
export function queuesClient(port: number, headers: Record<string, string> = defaultHeaders()) {
  const send = (method: string, path: string, body?: unknown, opts: RawOptions = {}): Promise<RawReply> =>
    raw(port, method, path, {
      ...opts,
      headers: { ...headers, ...opts.headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
  return {
    headers,
    send,
    get: (path: string, opts?: RawOptions) => send('GET', path, undefined, opts),
    head: (path: string, opts?: RawOptions) => send('HEAD', path, undefined, opts),
    del: (path: string, opts?: RawOptions) => send('DELETE', path, undefined, opts),
    put: (path: string, body?: unknown, opts?: RawOptions) => send('PUT', path, body, opts),
    post: (path: string, body?: unknown, opts?: RawOptions) => send('POST', path, body, opts),
    patch: (path: string, body?: unknown, opts?: RawOptions) => send('PATCH', path, body, opts),
  };
}

export type QueuesClient = ReturnType<typeof queuesClient>;

/** `n` messages `{ttl, body: {i}}`. */
export function messages(n: number, ttl = 300): Array<{ ttl: number; body: { i: number } }> {
  return Array.from({ length: n }, (_, i) => ({ ttl, body: { i } }));
}

/** Creates queue `name` and posts `n` messages; returns the posted hrefs. */
export async function queueWith(c: QueuesClient, name: string, n: number): Promise<string[]> {
  const put = await c.put(`/v1/queues/${name}`);
  if (put.status !== 201 && put.status !== 204) throw new Error(`PUT queue: ${put.status}`);
  if (n === 0) return [];
  const post = await c.post(`/v1/queues/${name}/messages`, messages(n));
  if (post.status !== 201) throw new Error(`POST messages: ${post.status} ${post.text}`);
  return post.json.resources as string[];
}
