import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isFault } from '../../src/registry/faults.js';
import { keys } from '../../src/registry/keys.js';
import { RegistryService } from '../../src/registry/service.js';
import { timeUuid } from '../../src/registry/time-uuid.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * Heartbeat state is lease-bound (in memory on SQLite). After a restart every
 * live service gets one timeout of grace and any well-formed token resumes
 * its chain; state that vanished while the registry ran excuses nothing.
 */

let tmp: TempDir | undefined;
const open: Array<{ registry: RegistryService; store: SqliteStore }> = [];

afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.registry.close();
    await o.store.close();
  }
  await tmp?.remove();
});

async function start(path: string): Promise<{ registry: RegistryService; store: SqliteStore }> {
  const store = openSqliteStore({ path });
  const registry = await RegistryService.open(store, { reaperIntervalMs: 0 });
  const o = { registry, store };
  open.push(o);
  return o;
}

describe('restart grace', () => {
  it('after a restart accepts any well-formed token once, then the chain goes on', async () => {
    tmp = await createTempDir('grace');
    const db = join(tmp.path, 'registry.db');
    const first = await start(db);
    await first.registry.createService('t1', { id: 'svc-a', heartbeat_timeout: 30 });
    await first.registry.close();
    await first.store.close();
    open.splice(0);

    const second = await start(db);
    const foreign = timeUuid(Date.now());
    const { token } = await second.registry.heartbeatService('t1', 'svc-a', { token: foreign });
    expect(token).not.toBe(foreign);
    // The chain is known again: a stale token no longer works.
    const stale = await second.registry.heartbeatService('t1', 'svc-a', { token: foreign }).catch((e: unknown) => e);
    expect(isFault(stale, 'notFoundError')).toBe(true);
    expect((await second.registry.heartbeatService('t1', 'svc-a', { token })).token).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('does not excuse heartbeat state lost while the registry ran (lease expired): 404 HeartbeatMarker', async () => {
    const { registry, store } = await start(':memory:');
    await registry.createService('t2', { id: 'svc-b', heartbeat_timeout: 30 });
    const beat = await store.get(keys.beat('t2', 'svc-b'));
    expect(beat?.lease).toBeGreaterThan(0);
    await store.revokeLease(beat?.lease as number);
    const err = await registry.heartbeatService('t2', 'svc-b', { token: timeUuid(Date.now()) }).catch((e: unknown) => e);
    expect(isFault(err, 'notFoundError')).toBe(true);
    expect((err as { details: string }).details).toContain('HeartbeatMarker');
  });
});
