import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { changesSince, extendPage, type PageBase } from '../../src/registry/event-tail.js';
import { toPage } from '../../src/registry/paging.js';
import { silentLogger } from '../../src/observability/logger.js';
import { RegistryService } from '../../src/registry/service.js';
import type { RegistryEvent } from '../../src/registry/types.js';
import { openEtcdStore, type EtcdStore } from '../../src/store/etcd.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { WatchEvent } from '../../src/store/store.js';
import { uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { createTempDir } from '../helpers/tmp.js';

/**
 * A caught-up events page moved forward with the store's watch history
 * (event-tail.ts): on etcd a long-poll woken by a change answers from what
 * the watch brought, with no read, and gives up to a read whenever the
 * history cannot say for sure.
 */

const ev = (id: string, type = 'configuration_value.update'): RegistryEvent => ({ id, timestamp: 0, type, payload: {} }) as unknown as RegistryEvent;
const put = (key: string, e: RegistryEvent, revision: number): WatchEvent => ({ type: 'put', key, value: JSON.stringify(e), revision });
const base = (values: RegistryEvent[], from = 'e/5'): PageBase => ({ page: toPage(values, 1000, undefined, null), from, revision: 10 });

describe('extendPage', () => {
  it('adds the events after the base in key order, skipping what the base holds, what sorts before it and other types', () => {
    const m = ev('m');
    const page = extendPage(
      base([m]),
      [put('e/7', ev('b'), 12), put('e/5', m, 11), put('e/6', ev('a'), 11), put('e/4', ev('old'), 12), put('e/8', ev('x', 'service.join'), 13)],
      'configuration_value.update',
      1000,
    );
    expect(page?.values.map((e) => e.id)).toEqual(['m', 'a', 'b']);
    expect(page?.metadata.next_marker).toBeNull();
  });

  it('gives up on a deleted event (a trim) and past the limit', () => {
    expect(extendPage(base([ev('m')]), [{ type: 'delete', key: 'e/5', value: null, revision: 11 }], null, 1000)).toBeUndefined();
    expect(extendPage(base([ev('m')]), [put('e/6', ev('a'), 11), put('e/7', ev('b'), 12)], null, 2)).toBeUndefined();
    expect(extendPage(base([ev('m')]), [put('e/6', ev('a'), 11)], null, 2)?.values).toHaveLength(2);
  });
});

describe('changesSince', () => {
  it('returns the history under a prefix, and undefined once it is no longer kept', async () => {
    const tmp = await createTempDir('event-tail');
    const store = openSqliteStore({ path: join(tmp.path, 'store.db'), watchHistory: 5 });
    try {
      const r0 = await store.revision();
      for (let i = 0; i < 2; i++) await store.txn([], [{ type: 'put', key: `t/x/e/${i}`, value: '{}' }, { type: 'put', key: `t/y/e/${i}`, value: '{}' }]);
      expect((await changesSince(store, 't/x/e/', r0 + 1))?.map((c) => c.key)).toEqual(['t/x/e/0', 't/x/e/1']);
      for (let i = 2; i < 6; i++) await store.txn([], [{ type: 'put', key: `t/x/e/${i}`, value: '{}' }]);
      expect(await changesSince(store, 't/x/e/', r0 + 1)).toBeUndefined();
    } finally {
      await store.close();
      await tmp.remove();
    }
  });
});

describe('a woken long-poll on etcd', () => {
  const etcd = useEtcd();
  const open: Array<{ service: RegistryService; store: EtcdStore }> = [];
  afterEach(async () => {
    for (const o of open.splice(0)) {
      await o.service.close();
      await o.store.close();
    }
  });

  it('answers from the watch history, with no read, the same page a read gives', async () => {
    const prefix = uniquePrefix();
    const servers = [];
    for (let i = 0; i < 2; i++) {
      const store = await openEtcdStore({ endpoints: etcd().endpoints, prefix, compactionIntervalMs: 0 });
      const service = await RegistryService.open(store, { logger: silentLogger(), reaperIntervalMs: 0 });
      open.push({ service, store });
      servers.push({ service, store });
    }
    const [a, b] = servers as [{ service: RegistryService; store: EtcdStore }, { service: RegistryService; store: EtcdStore }];
    const T = 'tail';
    await a.service.setConfig(T, '/app/value', { value: 'v0' });
    let marker = (await a.service.listEvents(T, { limit: 1000 })).values.at(-1)!.id;
    for (let round = 1; round <= 3; round++) {
      // Caught up: a's page for this marker is its base.
      expect((await a.service.listEvents(T, { marker, limit: 1000 })).values.map((e) => e.id)).toEqual([marker]);
      const range = vi.spyOn(a.store, 'range');
      const getMany = vi.spyOn(a.store, 'getMany');
      const polling = a.service.listEvents(T, { marker, limit: 1000, wait: 10 });
      await b.service.setConfig(T, '/app/value', { value: `v${round}` });
      const page = await polling;
      expect(range).not.toHaveBeenCalled();
      expect(getMany).not.toHaveBeenCalled();
      range.mockRestore();
      getMany.mockRestore();
      expect(page.values.map((e) => (e.payload as { new_value: string }).new_value)).toEqual([`v${round - 1}`, `v${round}`]);
      expect(page).toEqual(await b.service.listEvents(T, { marker, limit: 1000 }));
      marker = page.values.at(-1)!.id;
    }
  });
});
