import { afterEach } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { RegistryService } from '../../src/registry/service.js';
import { openEtcdStore, type EtcdStore } from '../../src/store/etcd.js';
import { uniquePrefix } from './etcd.js';

export interface OpenRegistry {
  service?: RegistryService;
  store: EtcdStore;
}

/** A list a test pushes its registries and etcd stores onto; each test's afterEach closes them, registry first. */
export function useOpenRegistries(): OpenRegistry[] {
  const open: OpenRegistry[] = [];
  afterEach(async () => {
    for (const { service, store } of open.splice(0)) {
      await service?.close();
      await store.close();
    }
  });
  return open;
}

/**
 * `n` registries over one etcd under a fresh prefix (servers of one cluster), each pushed onto `open` so the
 * test's afterEach closes it. No reaper and no compaction: a test drives both itself.
 */
export async function openEtcdRegistries(
  endpoints: readonly string[],
  open: OpenRegistry[],
  n: number,
): Promise<Array<{ service: RegistryService; store: EtcdStore }>> {
  const prefix = uniquePrefix();
  const out: Array<{ service: RegistryService; store: EtcdStore }> = [];
  for (let i = 0; i < n; i++) {
    const store = await openEtcdStore({ endpoints: [...endpoints], prefix, compactionIntervalMs: 0 });
    const service = await RegistryService.open(store, { logger: silentLogger(), reaperIntervalMs: 0 });
    open.push({ service, store });
    out.push({ service, store });
  }
  return out;
}
