import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger } from '../../src/observability/logger.js';
import { RegistryService, type RegistryServiceOptions } from '../../src/registry/service.js';
import { createRegistryServer, type AuthTable } from '../../src/server/index.js';
import { openSqliteStore } from '../../src/store/sqlite.js';

/** A real registry (in-memory SQLite + RegistryService + HTTP server) on 127.0.0.1:0. */
export interface RunningRegistry {
  /** Server root, e.g. http://127.0.0.1:41234 */
  url: string;
  service: RegistryService;
  close(): Promise<void>;
}

export async function startRegistry(opts: { auth?: AuthTable; service?: RegistryServiceOptions } = {}): Promise<RunningRegistry> {
  const store = await openSqliteStore({ path: ':memory:' });
  const service = await RegistryService.open(store, { logger: silentLogger(), ...opts.service });
  const server = createRegistryServer(service, { logger: silentLogger(), ...(opts.auth ? { auth: opts.auth } : {}) });
  const { url } = await server.listen(0, '127.0.0.1');
  return {
    url,
    service,
    async close() {
      await server.close();
      await service.close();
      await store.close();
    },
  };
}

/** A plain HTTP server on 127.0.0.1:0 answering with `handler` (for replies a real registry never sends). */
export async function startStub(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let seq = 0;
/** A tenant id no other test of this file uses (accounts are created on first use). */
export function freshTenant(): string {
  seq += 1;
  return `t${process.pid}x${seq}`;
}
