import { afterEach, describe, expect, it } from 'vitest';
import type { BeatRecord } from '../../src/registry/context.js';
import { keys } from '../../src/registry/keys.js';
import { RegistryService } from '../../src/registry/service.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';
import { FakeClock } from '../helpers/fake-clock.js';

/**
 * Heartbeat state lives on a lease of one fixed TTL (the longest timeout plus
 * grace). A heartbeat renews that lease only once a third of the TTL has
 * passed since the last renewal: on etcd a keep-alive is a round trip.
 */

let store: SqliteStore | undefined;
let registry: RegistryService | undefined;
afterEach(async () => {
  await registry?.close();
  await store?.close();
});

describe('lease renewal', () => {
  it('renews on the first heartbeat after a third of the lease TTL, not on every one, and the lease stays alive', async () => {
    const clock = new FakeClock();
    store = openSqliteStore({ path: ':memory:' });
    registry = await RegistryService.open(store, { clock, reaperIntervalMs: 0 });
    const created = clock.now();
    let { token } = await registry.createService('t', { id: 'svc', heartbeat_timeout: 30 });
    const beat = async (): Promise<BeatRecord & { lease: number }> => {
      ({ token } = await registry!.heartbeatService('t', 'svc', { token }));
      const e = await store!.get(keys.beat('t', 'svc'));
      return { ...(JSON.parse(e!.value) as BeatRecord), lease: e!.lease };
    };
    // TTL = 120 s + 5 s grace + 30 s = 155 s; a third is ~51.7 s.
    for (let i = 0; i < 5; i++) {
      clock.advance(10_000);
      expect((await beat()).renewed_at).toBe(created);
    }
    clock.advance(2_000); // 52 s since the grant
    const renewed = await beat();
    expect(renewed.renewed_at).toBe(clock.now());
    expect(await store.keepAlive(renewed.lease)).toBe(true);
    clock.advance(10_000);
    expect((await beat()).renewed_at).toBe(renewed.renewed_at);
  });
});
