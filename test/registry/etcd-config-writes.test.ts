import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { configMemoOf, type ConfigMemo } from '../../src/registry/config-memo.js';
import type { Ctx } from '../../src/registry/context.js';
import { keys } from '../../src/registry/keys.js';
import { SECRET_PREFIXES_KEY } from '../../src/registry/secret-prefixes.js';
import { RegistryService } from '../../src/registry/service.js';
import type { RegistryEvent } from '../../src/registry/types.js';
import { openEtcdStore, type EtcdStore } from '../../src/store/etcd.js';
import { uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { openEtcdRegistries, useOpenRegistries } from '../helpers/etcd-registries.js';

/**
 * Configuration writes through two registry servers over one etcd. A server
 * plans a write from what it knows (config-memo.ts) rather than a read: these
 * check that what it knows never decides anything the store did not confirm
 * (old values, secrecy, commit order), whichever server wrote last, and that
 * followers see every change once, in commit order.
 */

const TENANT = 'memo';
const KEY = '/app/value';
const etcd = useEtcd();
const open = useOpenRegistries();

function servers(n: number): Promise<Array<{ service: RegistryService; store: EtcdStore }>> {
  return openEtcdRegistries(etcd().endpoints, open, n);
}

/** The registry's configuration memo (the same one its writes use: one per registry). */
function memoOf(service: RegistryService): ConfigMemo {
  const { ctx, stop } = service as unknown as { ctx: Ctx; stop: AbortController };
  return configMemoOf(ctx, stop.signal)!;
}

type Update = { configuration_value_id: string; old_value: string | null; new_value: string | null; secret?: boolean };

async function updates(service: RegistryService): Promise<Update[]> {
  const events = (await service.listEvents(TENANT, { limit: 1000 })).values;
  return events.filter((e) => e.type === 'configuration_value.update').map((e) => e.payload as Update);
}

/** Each update's old value is the value the one before it wrote. */
function expectChained(list: Update[], first: string | null): void {
  let prev = first;
  for (const u of list) {
    expect(u.old_value).toBe(prev);
    prev = u.new_value;
  }
}

describe('configuration writes over one etcd', () => {
  it('a write planned from what the server knows reads nothing, and its event carries the right old value', async () => {
    const [a] = (await servers(1)) as [{ service: RegistryService; store: EtcdStore }];
    for (let i = 0; i < 3; i++) await a.service.setConfig(TENANT, KEY, { value: `v${i}` });
    const reads = vi.spyOn(a.store, 'getMany');
    for (let i = 3; i < 8; i++) await a.service.setConfig(TENANT, KEY, { value: `v${i}` });
    expect(reads).not.toHaveBeenCalled();
    // "Unchanged" is never decided from memory: it reads, and writes nothing.
    await a.service.setConfig(TENANT, KEY, { value: 'v7' });
    expect(reads).toHaveBeenCalledTimes(1);
    const list = await updates(a.service);
    expect(list.map((u) => u.new_value)).toEqual(['v0', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7']);
    expectChained(list, null);
    expect((await a.service.getConfig(TENANT, KEY)).value).toBe('v7');
  });

  it('writes to one key through two servers, in turn and at once, chain their old values with nothing lost or doubled', async () => {
    const [a, b] = (await servers(2)) as Array<{ service: RegistryService; store: EtcdStore }>;
    for (let i = 0; i < 6; i++) await (i % 2 === 0 ? a! : b!).service.setConfig(TENANT, KEY, { value: `turn-${i}` });
    const racing = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a! : b!).service.setConfig(TENANT, KEY, { value: `race-${i}` }));
    await Promise.all(racing);
    // Another event between two writes of a (a service joins through b): a's next write must not reuse its last event id.
    await b!.service.createService(TENANT, { id: 'svc', tags: [], metadata: {}, heartbeat_timeout: 30 });
    await a!.service.setConfig(TENANT, KEY, { value: 'after-join' });
    const list = await updates(a!.service);
    expect(list).toHaveLength(6 + 10 + 1);
    expectChained(list, null);
    expect(list.at(-1)?.new_value).toBe('after-join');
    const all = (await b!.service.listEvents(TENANT, { limit: 1000 })).values;
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
    expect(all.map((e) => e.type)).toContain('service.join');
  });

  it('a key made secret through another server is written secret at once, whatever this server knew', async () => {
    const [a, b] = (await servers(2)) as Array<{ service: RegistryService; store: EtcdStore }>;
    for (let i = 0; i < 3; i++) await a!.service.setConfig(TENANT, KEY, { value: `plain-${i}` });
    await b!.service.setConfig(TENANT, SECRET_PREFIXES_KEY, { value: JSON.stringify(['/app/']) });
    await a!.service.setConfig(TENANT, KEY, { value: 'hidden' });
    const last = (await updates(a!.service)).at(-1);
    expect(last).toEqual({ configuration_value_id: KEY, old_value: null, new_value: null, secret: true });
  });

  it('a commit planned from stale knowledge fails its compares and is planned again from a read', async () => {
    const [a, b] = (await servers(2)) as Array<{ service: RegistryService; store: EtcdStore }>;
    for (let i = 0; i < 3; i++) await a!.service.setConfig(TENANT, KEY, { value: `plain-${i}` });
    await b!.service.setConfig(TENANT, SECRET_PREFIXES_KEY, { value: JSON.stringify(['/app/']) });
    // What a could still believe had its watch not caught up yet: no marker, and the value it wrote last.
    const memo = memoOf(a!.service);
    const reads = [keys.config(TENANT, KEY), keys.lastEvent(TENANT), keys.config(TENANT, SECRET_PREFIXES_KEY), keys.unmarkedSecrets(TENANT)];
    const now = await a!.store.getMany(reads);
    await vi.waitFor(() => expect(memo.recall(reads)?.[2]?.value).toBe(now[2]?.value));
    memo.committed(reads, [now[0], now[1], undefined, now[3]], [], Number.MAX_SAFE_INTEGER);
    const reread = vi.spyOn(a!.store, 'getMany');
    await a!.service.setConfig(TENANT, KEY, { value: 'hidden' });
    expect(reread).toHaveBeenCalledTimes(1);
    expect((await updates(a!.service)).at(-1)).toEqual({ configuration_value_id: KEY, old_value: null, new_value: null, secret: true });
  });

  it('a follower on server A sees a change written on A and one written on B, each exactly once, in commit order', async () => {
    const [a, b] = (await servers(2)) as Array<{ service: RegistryService; store: EtcdStore }>;
    await a!.service.setConfig(TENANT, '/start', { value: 'x' });
    let marker = (await a!.service.listEvents(TENANT, { limit: 1000 })).values.at(-1)!.id;
    const seen: RegistryEvent[] = [];
    const follow = async (until: number): Promise<void> => {
      while (seen.length < until) {
        const page = await a!.service.listEvents(TENANT, { marker, limit: 1000, wait: 10 });
        const fresh = page.values.filter((e) => e.id !== marker);
        seen.push(...fresh);
        if (fresh.length > 0) marker = fresh.at(-1)!.id;
      }
    };
    for (let round = 0; round < 5; round++) {
      const polling = follow(seen.length + 2);
      await a!.service.setConfig(TENANT, KEY, { value: `a-${round}` });
      await b!.service.setConfig(TENANT, KEY, { value: `b-${round}` });
      await polling;
    }
    expect(seen.map((e) => (e.payload as Update).new_value)).toEqual([0, 1, 2, 3, 4].flatMap((r) => [`a-${r}`, `b-${r}`]));
    expect(new Set(seen.map((e) => e.id)).size).toBe(10);
    expectChained(seen.map((e) => e.payload as Update), null);
  });

  it('a closed registry leaves nothing on the store: its configuration memo and the watch feeding it are collected', async () => {
    const store = await openEtcdStore({ endpoints: etcd().endpoints, prefix: uniquePrefix(), compactionIntervalMs: 0 });
    const reads = [keys.config(TENANT, KEY), keys.lastEvent(TENANT), keys.config(TENANT, SECRET_PREFIXES_KEY), keys.unmarkedSecrets(TENANT)];
    const memos: Array<WeakRef<ConfigMemo>> = [];
    try {
      for (let i = 0; i < 10; i++) {
        const service = await RegistryService.open(store, { logger: silentLogger(), reaperIntervalMs: 0 });
        await service.setConfig(TENANT, KEY, { value: `a-${i}` });
        await service.setConfig(TENANT, KEY, { value: `b-${i}` });
        const memo = memoOf(service);
        // Its watch is open once a read is remembered.
        await vi.waitFor(async () => {
          await service.setConfig(TENANT, KEY, { value: `c-${i}` });
          expect(memo.recall(reads)).toBeDefined();
        });
        memos.push(new WeakRef(memo));
        await service.close();
      }
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      // WeakRefs are cleared between jobs: collect, let the turn end, and look again.
      await vi.waitFor(async () => {
        gc();
        await new Promise((resolve) => setImmediate(resolve));
        expect(memos.filter((m) => m.deref() !== undefined)).toHaveLength(0);
      });
    } finally {
      await store.close();
    }
  });
});
