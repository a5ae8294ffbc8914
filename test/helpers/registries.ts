import type { Registry } from '../../src/registry/registry.js';
import type { ResourceLimits } from '../../src/registry/types.js';
import { RegistryService } from '../../src/registry/service.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { createRegistryServer } from '../../src/server/index.js';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { silentLogger } from '../../src/observability/logger.js';
import { FakeClock } from './fake-clock.js';

/** Options a conformance test may need beyond the defaults. */
export interface HarnessOptions {
  /** 0 disables the background reaper (RegistryService default: 1000). */
  reaperIntervalMs?: number;
  reaperGraceMs?: number;
  eventRetentionMs?: number;
  defaultLimits?: Partial<ResourceLimits>;
}

/** One registry under test, with the fake clock its RegistryService reads. */
export interface RegistryHarness {
  name: string;
  registry: Registry;
  clock: FakeClock;
  /** The in-process RegistryService behind `registry` (for hooks the interface does not have). */
  service: RegistryService;
  /** Present when the registry is reached over HTTP: the server root, for raw-HTTP checks. */
  raw?: { url: string };
  close(): Promise<void>;
}

export interface RegistryImplementation {
  name: string;
  /** True when the harnesses it opens have `raw` (known before any is opened, for describe blocks). */
  hasRaw: boolean;
  open(opts?: HarnessOptions): Promise<RegistryHarness>;
}

/** A RegistryService over a fresh in-memory SQLite store; `close` stops the service, then the store. */
async function openService(opts: HarnessOptions, clock: FakeClock): Promise<{ service: RegistryService; close(): Promise<void> }> {
  const store = await openSqliteStore({ path: ':memory:' });
  try {
    const service = await RegistryService.open(store, {
      clock,
      logger: silentLogger(),
      ...(opts.reaperIntervalMs !== undefined ? { reaperIntervalMs: opts.reaperIntervalMs } : {}),
      ...(opts.reaperGraceMs !== undefined ? { reaperGraceMs: opts.reaperGraceMs } : {}),
      ...(opts.eventRetentionMs !== undefined ? { eventRetentionMs: opts.eventRetentionMs } : {}),
      ...(opts.defaultLimits !== undefined ? { defaultLimits: opts.defaultLimits } : {}),
    });
    return {
      service,
      async close() {
        // RegistryService leaves the store open (it is the caller's).
        await service.close();
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** RegistryService over an in-memory SQLite store, called directly. */
const direct: RegistryImplementation = {
  name: 'direct',
  hasRaw: false,
  async open(opts = {}) {
    const clock = new FakeClock();
    const { service, close } = await openService(opts, clock);
    return { name: 'direct', registry: service, clock, service, close };
  },
};

/** The same RegistryService behind the HTTP server on 127.0.0.1:0, used through HttpRegistry. */
const http: RegistryImplementation = {
  name: 'http',
  hasRaw: true,
  async open(opts = {}) {
    const clock = new FakeClock();
    const { service, close: closeService } = await openService(opts, clock);
    const server = createRegistryServer(service, { logger: silentLogger() });
    let url: string;
    try {
      ({ url } = await server.listen(0, '127.0.0.1'));
    } catch (err) {
      await closeService();
      throw err;
    }
    const client = new HttpRegistry({ url, token: 'conformance-token' });
    return {
      name: 'http',
      registry: client,
      clock,
      service,
      raw: { url },
      async close() {
        await client.close();
        await server.close();
        await closeService();
      },
    };
  },
};

export const registryImplementations: RegistryImplementation[] = [direct, http];

/** The implementation with this name; throws when there is none. */
export function registryImplementation(name: string): RegistryImplementation {
  const impl = registryImplementations.find((i) => i.name === name);
  if (!impl) throw new Error(`no registry implementation named ${name}`);
  return impl;
}
