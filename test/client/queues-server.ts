import { HttpQueues, type HttpQueuesOptions } from '../../src/client/queues.js';
import { silentLogger } from '../../src/observability/logger.js';
import { QueueService } from '../../src/queues/service.js';
import { RegistryService } from '../../src/registry/service.js';
import { createRegistryServer, type AuthTable } from '../../src/server/index.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { FakeClock } from '../helpers/fake-clock.js';

/**
 * A real server for the queues client tests: QueueService (and the
 * registry) over one in-memory SQLite store, behind the HTTP server on
 * 127.0.0.1:0. The service reads `clock`, so claim and message lifetimes are
 * moved by the test instead of slept through.
 */
export interface QueuesServer {
  /** Server root, http://127.0.0.1:PORT */
  url: string;
  clock: FakeClock;
  service: QueueService;
  /** The registry beside it (over the same store), as `tether registry` serves both. */
  registry: RegistryService;
  /** Queue requests holding in a long-poll (`wait=`) right now, from the server's metrics. */
  waiting(): Promise<number>;
  /** A client of this server (closed by `close`). */
  client(opts?: Partial<HttpQueuesOptions>): HttpQueues;
  close(): Promise<void>;
}

export async function startQueuesServer(opts: { auth?: AuthTable } = {}): Promise<QueuesServer> {
  const clock = new FakeClock();
  const store = openSqliteStore({ path: ':memory:' });
  const registry = await RegistryService.open(store, { logger: silentLogger() });
  const service = await QueueService.open(store, { clock, logger: silentLogger() });
  const server = createRegistryServer(registry, { logger: silentLogger(), queues: service, ...(opts.auth ? { auth: opts.auth } : {}) });
  const { url } = await server.listen(0, '127.0.0.1');
  const clients: HttpQueues[] = [];
  return {
    url,
    clock,
    service,
    registry,
    async waiting() {
      const { text } = await server.metrics.scrape();
      const m = /^tether_long_polls_waiting\{api="queues"\} (\d+)$/m.exec(text);
      return Number(m?.[1] ?? 0);
    },
    client(o = {}) {
      const c = new HttpQueues({ url, ...o });
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.destroy()));
      await server.close();
      await service.close();
      await registry.close();
      await store.close();
    },
  };
}

let seq = 0;
/** A queue name no other test of this process uses. */
export function freshQueue(prefix = 'q'): string {
  seq += 1;
  return `${prefix}-${process.pid}-${seq}`;
}
