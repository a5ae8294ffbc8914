import type { Registry } from '../../src/registry/registry.js';
import type { ResourceLimits } from '../../src/registry/types.js';
import { RegistryService } from '../../src/registry/service.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { openEtcdStore } from '../../src/store/etcd.js';
import type { Store } from '../../src/store/store.js';
import { uniquePrefix } from './etcd.js';
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

/** Opens a fresh, empty store for one harness; `close` releases it (and its data). */
export type StoreFactory = () => Promise<{ store: Store; close(): Promise<void> }>;

const sqliteMemory: StoreFactory = async () => {
  const store = openSqliteStore({ path: ':memory:' });
  return { store, close: () => store.close() };
};

/** Stores on fresh prefixes of the etcd at `endpoints()`; closing one deletes its keys. */
export function etcdStores(endpoints: () => string[]): StoreFactory {
  return async () => {
    const store = await openEtcdStore({ endpoints: endpoints(), prefix: uniquePrefix(), compactionIntervalMs: 0 });
    return {
      store,
      async close() {
        await store.txn([], [{ type: 'deleteRange', start: '', end: '\uffff' }]).catch(() => undefined);
        await store.close();
      },
    };
  };
}

/** A RegistryService over a fresh store; `close` stops the service, then the store. */
async function openService(
  opts: HarnessOptions,
  clock: FakeClock,
  openStore: StoreFactory,
): Promise<{ service: RegistryService; close(): Promise<void> }> {
  const { store, close: closeStore } = await openStore();
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
        await closeStore();
      },
    };
  } catch (err) {
    await closeStore();
    throw err;
  }
}

/** RegistryService over a store from `openStore`, called directly. */
const directOver = (name: string, openStore: StoreFactory): RegistryImplementation => ({
  name,
  hasRaw: false,
  async open(opts = {}) {
    const clock = new FakeClock();
    const { service, close } = await openService(opts, clock, openStore);
    return { name, registry: service, clock, service, close };
  },
});

/** The same RegistryService behind the HTTP server on 127.0.0.1:0, used through HttpRegistry. */
const httpOver = (name: string, openStore: StoreFactory): RegistryImplementation => ({
  name,
  hasRaw: true,
  async open(opts = {}) {
    const clock = new FakeClock();
    const { service, close: closeService } = await openService(opts, clock, openStore);
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
      name,
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
});

export const registryImplementations: RegistryImplementation[] = [directOver('direct', sqliteMemory), httpOver('http', sqliteMemory)];

/** The registry over etcd (the etcd at `endpoints()`, started by the test file), directly and through HTTP. */
export function etcdRegistryImplementations(endpoints: () => string[]): { direct: RegistryImplementation; http: RegistryImplementation } {
  const stores = etcdStores(endpoints);
  return { direct: directOver('etcd', stores), http: httpOver('etcd+http', stores) };
}

/** The implementation with this name; throws when there is none. */
export function registryImplementation(name: string): RegistryImplementation {
  const impl = registryImplementations.find((i) => i.name === name);
  if (!impl) throw new Error(`no registry implementation named ${name}`);
  return impl;
}
