import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventHold, EventWaits, WAIT_TICK_MS, type Waker } from '../../src/registry/event-waits.js';
import { RegistryService } from '../../src/registry/service.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';

/** Long-poll waits on a real (in-memory SQLite) store: one shared watch per tenant. */

const prefixOf = (t: string): string => `w/${t}/`;
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function store(watchHistory?: number): Store {
  const s = openSqliteStore({ path: ':memory:', watchHistory });
  stores.push(s);
  return s;
}

const put = (s: Store, key: string): Promise<unknown> => s.txn([], [{ type: 'put', key, value: 'v' }]);

describe('EventWaits', () => {
  it('wakes every waiter of the tenant on one change, and only that tenant', async () => {
    const s = store();
    const waits = new EventWaits(s, prefixOf);
    const from = (await s.watchedRevision()) + 1;
    let otherWoken = false;
    const other = waits.wait('other', from, 2_000).then(() => (otherWoken = true));
    const woken = Array.from({ length: 50 }, () => waits.wait('t', from, 30_000));
    await put(s, 'w/t/1');
    await Promise.all(woken);
    expect(otherWoken).toBe(false);
    await other; // by its timer
  });

  // Review R9 F6: a wait woken by an event used to leave its deadline tick in the grid; after the ticker stopped, nothing removed it.
  it('keeps no deadline tick of a wait that has ended, however it ended', async () => {
    const s = store();
    const waits = new EventWaits(s, prefixOf);
    for (let i = 0; i < 20; i++) {
      const from = (await s.watchedRevision()) + 1;
      const woken = waits.wait('t', from, 1_000 + i * 100); // a tick of its own each time
      expect(waits.ticks).toBe(1);
      await put(s, `w/t/${i}`);
      await woken;
      expect([waits.size, waits.ticks]).toEqual([0, 0]);
    }
    // Several ticks held; one tenant's change, an abort, then a timeout empty them one by one.
    const from = (await s.watchedRevision()) + 1;
    const stop = new AbortController();
    const woken = [waits.wait('t', from, 5_000), waits.wait('t', from, 6_000)];
    const aborted = waits.wait('u', from, 7_000, stop.signal);
    const timed = waits.wait('v', from, 3 * WAIT_TICK_MS);
    expect(waits.ticks).toBe(4);
    await put(s, 'w/t/x');
    await Promise.all(woken);
    expect(waits.ticks).toBe(2);
    stop.abort();
    await aborted;
    expect(waits.ticks).toBe(1);
    await timed;
    expect([waits.size, waits.ticks]).toEqual([0, 0]);
  });

  it('a change already past `from` (delivered from history) resolves at once', async () => {
    const s = store();
    const waits = new EventWaits(s, prefixOf);
    const from = (await s.watchedRevision()) + 1;
    await put(s, 'w/t/1');
    const started = Date.now();
    await waits.wait('t', from, 30_000);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a compacted `from` resolves (the caller re-reads) instead of hanging or failing', async () => {
    const s = store(1);
    const waits = new EventWaits(s, prefixOf);
    const from = (await s.watchedRevision()) + 1;
    for (let i = 0; i < 3; i++) await put(s, `x/${i}`);
    const started = Date.now();
    await waits.wait('t', from, 30_000);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('aborting one waiter leaves the others waiting', async () => {
    const s = store();
    const waits = new EventWaits(s, prefixOf);
    const from = (await s.watchedRevision()) + 1;
    const ctl = new AbortController();
    let keptWoken = false;
    const kept = waits.wait('t', from, 30_000).then(() => (keptWoken = true));
    const left = waits.wait('t', from, 30_000, ctl.signal);
    ctl.abort();
    await left;
    expect(keptWoken).toBe(false);
    await put(s, 'w/t/1');
    await kept;
    expect(keptWoken).toBe(true);
  });
});

describe('EventWaits with holds (the server\'s long-polls)', () => {
  it('park tells its waker once, never from inside park or abort(): on a change, an abort, or at once', async () => {
    const s = store();
    const waits = new EventWaits(s, prefixOf);
    const told: Array<[string, unknown]> = [];
    const waker = (name: string): Waker => ({ woke: (err) => void told.push([name, err]) });
    const from = (await s.watchedRevision()) + 1;
    const [changed, aborted] = [new EventHold(), new EventHold()];
    waits.park('t', from, 30_000, changed, waker('changed'));
    waits.park('t', from, 30_000, aborted, waker('aborted'));
    aborted.abort('gone');
    // Told in a later microtask, not within abort() (nor within park).
    expect(told).toEqual([]);
    await Promise.resolve();
    expect(told).toEqual([['aborted', undefined]]);
    await put(s, 'w/t/1');
    await vi.waitFor(() => expect(told).toEqual([['aborted', undefined], ['changed', undefined]]), { timeout: 5_000 });
    // Already past `from`: told at once, but not synchronously.
    waits.park('t', from, 30_000, new EventHold(), waker('past'));
    expect(told).toHaveLength(2);
    await Promise.resolve();
    expect(told.at(-1)).toEqual(['past', undefined]);
    expect(waits.size).toBe(0);
    // Each was told once.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(told.map(([name]) => name)).toEqual(['aborted', 'changed', 'past']);
  });

  it('an aborted hold is released at once, the others keep waiting, and the last to leave closes the watch', async () => {
    const s = store();
    const waits = new EventWaits(s, prefixOf);
    const from = (await s.watchedRevision()) + 1;
    const holds = Array.from({ length: 20 }, () => new EventHold());
    const woken = holds.map((h) => waits.wait('t', from, 30_000, h).then(() => h));
    expect(waits.size).toBe(20);
    holds[0]!.abort('gone');
    expect(await woken[0]).toBe(holds[0]);
    expect(holds[0]!.signal.aborted).toBe(true);
    expect(holds[0]!.signal.reason).toBe('gone');
    expect(waits.size).toBe(19);
    // An aborted hold does not wait again.
    await waits.wait('t', from, 30_000, holds[0]);
    expect(waits.size).toBe(19);
    for (const h of holds.slice(1)) h.abort();
    await Promise.all(woken);
    expect(waits.size).toBe(0);
    // With no waiter left the tenant's watch was closed: a change now wakes nobody and a new wait opens a new one.
    await put(s, 'w/t/1');
    const late = new EventHold();
    const started = Date.now();
    await waits.wait('t', from, 30_000, late);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(waits.size).toBe(0);
  });

  it('times out every wait within a few ms of its deadline, never before it, on one timer', async () => {
    const s = store();
    const waits = new EventWaits(s, prefixOf);
    const from = (await s.watchedRevision()) + 1;
    const ms = [300, 100, 500, 100, 200, 150, 250, 120, 330, 410];
    const late = await Promise.all(
      ms.map((m) => {
        const deadline = Date.now() + m;
        return waits.wait('t', from, m, new EventHold()).then(() => Date.now() - deadline);
      }),
    );
    for (const l of late) {
      expect(l).toBeGreaterThanOrEqual(0);
      // Generous: a loaded machine runs timers late.
      expect(l).toBeLessThan(5_000);
    }
    // The 50 ms grid and its 50 ms interval this replaced ended waits 0-100 ms late, ~50 at the median.
    const median = [...late].sort((a, b) => a - b)[Math.floor(late.length / 2)]!;
    expect(median).toBeLessThan(25);
    expect(waits.size).toBe(0);
  });

  it('holds one timer for any number of waits, and none once they end', async () => {
    const s = store();
    const waits = new EventWaits(s, prefixOf);
    const from = (await s.watchedRevision()) + 1;
    const armed = vi.spyOn(globalThis, 'setTimeout');
    const cleared = vi.spyOn(globalThis, 'clearTimeout');
    try {
      // Later deadlines first: each earlier one re-arms the timer (clearing the last); then 100 on known ticks.
      const waiting = [30_000, 20_000, 10_000].map((m) => waits.wait('t', from, m, new EventHold()));
      waiting.push(...Array.from({ length: 100 }, (_, i) => waits.wait('t', from, 25_000 + (i % 3) * 1_000, new EventHold())));
      expect(armed).toHaveBeenCalledTimes(3);
      expect(cleared).toHaveBeenCalledTimes(2);
      await put(s, 'w/t/1');
      await Promise.all(waiting);
      expect(waits.size).toBe(0);
      expect(cleared).toHaveBeenCalledTimes(3);
      expect(armed).toHaveBeenCalledTimes(3);
    } finally {
      armed.mockRestore();
      cleared.mockRestore();
    }
  });
});

describe('registry close', () => {
  it('ends every waiting long-poll promptly', async () => {
    const registry = await RegistryService.open(store(), { reaperIntervalMs: 0 });
    await registry.setConfig('closing', 'some-key', { value: 'x' });
    const marker = (await registry.listEvents('closing')).values[0]!.id;
    const polls = Array.from({ length: 10 }, () => registry.listEvents('closing', { marker, wait: '30' }).then(() => 'answered', () => 'ended'));
    const started = Date.now();
    await registry.close();
    expect(await Promise.all(polls)).toEqual(Array.from({ length: 10 }, () => 'ended'));
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('shared reads', () => {
  it('followers re-polling from the same id share one read while nothing changes, and one per wake', async () => {
    const s = store();
    const registry = await RegistryService.open(s, { reaperIntervalMs: 0 });
    try {
      await registry.setConfig('sharing', 'some-key', { value: 'x' });
      const marker = (await registry.listEvents('sharing')).values[0]!.id;
      const range = vi.spyOn(s, 'range');
      const polls: Promise<unknown>[] = [];
      // One after another, each after the last has read and is waiting: no in-flight read to join.
      for (let i = 0; i < 20; i++) {
        polls.push(registry.listEvents('sharing', { marker, wait: '30' }));
        for (let j = 0; j < 20; j++) await new Promise((r) => setImmediate(r));
      }
      expect(range).toHaveBeenCalledTimes(1);
      await registry.setConfig('sharing', 'some-key', { value: 'y' });
      const pages = (await Promise.all(polls)) as Array<{ values: unknown[] }>;
      expect(range).toHaveBeenCalledTimes(2);
      for (const p of pages) expect(p).toBe(pages[0]);
      expect(pages[0]!.values).toHaveLength(2);
      // A page with news is not kept: the same call reads again.
      await registry.listEvents('sharing', { marker });
      await registry.listEvents('sharing', { marker });
      expect(range).toHaveBeenCalledTimes(4);
    } finally {
      await registry.close();
    }
  });
});
