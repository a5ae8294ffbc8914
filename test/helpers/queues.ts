import type { Queues } from '../../src/queues/queues.js';
import { QueueService } from '../../src/queues/service.js';
import type { QueueLimits } from '../../src/queues/types.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { silentLogger } from '../../src/observability/logger.js';
import { FakeClock } from './fake-clock.js';
import { etcdStores, type StoreFactory } from './registries.js';

/** Options a queues conformance test may need beyond the defaults. */
export interface QueuesHarnessOptions {
  limits?: Partial<QueueLimits>;
  /** 0 (the default here) disables the periodic sweep; tests call `service.sweep()`. */
  sweepIntervalMs?: number;
}

/** One `Queues` under test, with the fake clock its QueueService reads. */
export interface QueuesHarness {
  name: string;
  queues: Queues;
  clock: FakeClock;
  /** The in-process QueueService behind `queues` (for hooks the interface does not have, e.g. sweep()). */
  service: QueueService;
  /** Present when `queues` is reached over HTTP: the server root, for raw-HTTP checks. */
  raw?: { url: string };
  close(): Promise<void>;
}

export interface QueuesImplementation {
  name: string;
  /** True when the harnesses it opens have `raw`. */
  hasRaw: boolean;
  open(opts?: QueuesHarnessOptions): Promise<QueuesHarness>;
}

export const sqliteMemoryStores: StoreFactory = async () => {
  const store = openSqliteStore({ path: ':memory:' });
  return { store, close: () => store.close() };
};

/**
 * A QueueService over a fresh store from `openStore`; `close` stops the
 * service, then the store. For an HTTP implementation, put the service behind
 * the server and hand the harness the client (see queuesDirect for the shape).
 */
export async function openQueueService(
  openStore: StoreFactory,
  clock: FakeClock,
  opts: QueuesHarnessOptions = {},
): Promise<{ service: QueueService; close(): Promise<void> }> {
  const { store, close: closeStore } = await openStore();
  try {
    const service = await QueueService.open(store, {
      clock,
      logger: silentLogger(),
      sweepIntervalMs: opts.sweepIntervalMs ?? 0,
      ...(opts.limits !== undefined ? { limits: opts.limits } : {}),
    });
    return {
      service,
      async close() {
        await service.close();
        await closeStore();
      },
    };
  } catch (err) {
    await closeStore();
    throw err;
  }
}

/** QueueService over a store from `openStore`, called directly. */
export function queuesDirect(name: string, openStore: StoreFactory): QueuesImplementation {
  return {
    name,
    hasRaw: false,
    async open(opts = {}) {
      const clock = new FakeClock();
      const { service, close } = await openQueueService(openStore, clock, opts);
      return { name, queues: service, clock, service, close };
    },
  };
}

export const sqliteQueues: QueuesImplementation = queuesDirect('sqlite', sqliteMemoryStores);

/** QueueService over the etcd at `endpoints()` (started by the test file), directly. */
export function etcdQueues(endpoints: () => string[]): QueuesImplementation {
  return queuesDirect('etcd', etcdStores(endpoints));
}
