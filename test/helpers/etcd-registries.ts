import { afterEach } from 'vitest';
import type { RegistryService } from '../../src/registry/service.js';
import type { EtcdStore } from '../../src/store/etcd.js';

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
