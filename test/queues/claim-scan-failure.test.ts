import { afterEach, describe, expect, it } from 'vitest';
import { TetherError } from '../../src/lib/errors.js';
import { QueueService } from '../../src/queues/service.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';

/** Review 15 M2: a store error in the middle of a claim's scan must not keep the messages it had set aside. */

const CLIENT = '3381af92-2b9e-11e3-b191-71861300734c';
const CLAIM = { ttl: 300, grace: 60 };
const body = (n: number) => Array.from({ length: n }, (_, i) => ({ ttl: 300, body: i }));

/** The real store, except that the range call numbered `failAt` (counted from `arm`) throws store.unavailable. */
function failingRange(store: Store): { store: Store; arm(failAt: number): void; failures: () => number } {
  let calls = 0;
  let failAt = 0;
  let failures = 0;
  const wrapped = new Proxy(store, {
    get(target, prop) {
      if (prop === 'range') {
        return (...args: Parameters<Store['range']>) => {
          calls++;
          if (calls === failAt) {
            failures++;
            return Promise.reject(new TetherError('store.unavailable', 'injected range failure'));
          }
          return target.range(...args);
        };
      }
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { store: wrapped, arm: (n) => ((calls = 0), (failAt = n)), failures: () => failures };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('claims: a store failure mid-scan', () => {
  it('releases what the scan set aside: every free message can still be claimed on that service', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const a = await QueueService.open(store, { sweepIntervalMs: 0 });
    const f = failingRange(store);
    const b = await QueueService.open(f.store, { sweepIntervalMs: 0 });
    cleanups.push(() => store.close(), () => a.close(), () => b.close());

    // Markers 1-2 free, 3-22 claimed, 23-32 free: B's first page (limit + 8 = 18) holds 1-2 and then claimed ones only.
    await a.createQueue('p', 'q');
    const first = await a.postMessages('p', 'q', CLIENT, body(2));
    const hold = await a.claimMessages('p', 'q', CLAIM, { limit: 2 });
    await a.postMessages('p', 'q', CLIENT, body(20));
    expect((await a.claimMessages('p', 'q', CLAIM, { limit: 20 }))?.messages).toHaveLength(20);
    await a.releaseClaim('p', 'q', hold?.id as string);
    const last = await a.postMessages('p', 'q', CLIENT, body(10));

    f.arm(2);
    await expect(b.claimMessages('p', 'q', CLAIM, { limit: 10 })).rejects.toMatchObject({ code: 'queues.unavailable' });
    expect(f.failures()).toBe(1);

    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      const claim = await b.claimMessages('p', 'q', CLAIM, { limit: 10 });
      if (claim === null) break;
      got.push(...claim.messages.map((m) => m.id));
    }
    expect(got.sort()).toEqual([...first, ...last].sort());
    expect((await b.getStats('p', 'q')).free).toBe(0);
  });
});
