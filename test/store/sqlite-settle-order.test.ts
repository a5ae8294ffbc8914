import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * A group commit tells its watchers before its callers: the microtasks a
 * watcher starts (a woken long-poll reading its page and replying) run
 * before any txn of that commit settles, so a follower's reply is not
 * queued behind the writer's.
 */

let tmp: TempDir;
let store: SqliteStore;

beforeEach(async () => {
  tmp = await createTempDir('settle-order');
  store = openSqliteStore({ path: join(tmp.path, 'store.db') });
});
afterEach(async () => {
  await store.close();
  await tmp.remove();
});

/** A watcher's work after a wake: many awaits, as a page read and a reply take. */
async function longChain(order: string[], label: string): Promise<void> {
  for (let i = 0; i < 50; i++) await Promise.resolve();
  order.push(label);
}

describe('sqlite txn settling', () => {
  it('settles a committed txn after the microtasks its watchers started', async () => {
    const order: string[] = [];
    const stop = new AbortController();
    await store.watch('/w/', (await store.revision()) + 1, () => void longChain(order, 'watcher'), stop.signal);
    const [a, b] = await Promise.all([
      store.txn([], [{ type: 'put', key: '/w/a', value: '1' }]).then((r) => (order.push('writer a'), r)),
      store.txn([], [{ type: 'put', key: '/w/b', value: '2' }]).then((r) => (order.push('writer b'), r)),
    ]);
    stop.abort();
    // One group commit, two watch calls (one per txn), then both writers, in call order.
    expect(order).toEqual(['watcher', 'watcher', 'writer a', 'writer b']);
    expect(b!.revision).toBe(a!.revision + 1);
    expect(store.commitStats().commits).toBe(1);
  });

  it('still settles every txn in order when the store closes with txns queued', async () => {
    const order: string[] = [];
    const writes = [0, 1, 2].map((i) => store.txn([], [{ type: 'put', key: `/c/${i}`, value: 'v' }]).then(() => order.push(`w${i}`)));
    await store.close();
    await Promise.all(writes);
    expect(order).toEqual(['w0', 'w1', 'w2']);
  });

  it('settles a failed compare and a refused op with the rest of their commit', async () => {
    const settled = await Promise.allSettled([
      store.txn([{ key: '/x', op: 'modRevision', revision: 99 }], [{ type: 'put', key: '/x', value: '1' }]),
      store.txn([], [{ type: 'put', key: '/y', value: '1', lease: 12345 }]),
      store.txn([], [{ type: 'put', key: '/z', value: '1' }]),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[0] as PromiseFulfilledResult<{ succeeded: boolean }>).value.succeeded).toBe(false);
    expect((settled[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'store.lease_not_found' });
  });
});
