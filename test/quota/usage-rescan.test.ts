import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { UsageLedger } from '../../src/server/quota/usage.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Op, Store, WatchEvent } from '../../src/store/store.js';

/**
 * The quota ledger's rescan (the store lost its change stream: an empty
 * batch, as etcd sends after compacting past the watch) against writes that
 * land while it reads. A real SQLite store; the wrapper swallows some events
 * before the loss (what a compaction past the watch loses, so the ledger is
 * wrong until its rescan is swapped in), and holds a range's answer until the
 * test has written, which is the interleaving a loaded server produces: the
 * range's snapshot is older than those writes' events.
 */
const NS = 'pacme';
const msg = (id: string): string => `q/d/${NS}/jobs/m/${id}`;
const put = (key: string, value: string): Op => ({ type: 'put', key, value });

interface Gated {
  store: Store;
  /** Calls the ledger's watch listener as the store does when it lost its change stream. */
  lose(): void;
  /** The next `n` events do not reach the ledger; resolves once they went by. */
  swallow(n: number): Promise<void>;
  /** The next range of `prefix` resolves only after `during` has run (after the range read its snapshot). */
  holdRange(prefix: string, during: () => Promise<void>): Promise<void>;
  /** Ranges answered so far (a scan without accounts makes 5: a/, q/n/, q/d/, r/d/, a/). */
  ranges(): number;
}

function gated(inner: Store): Gated {
  let listener: ((events: WatchEvent[]) => void) | undefined;
  let ranges = 0;
  let deaf: { left: number; done: () => void } | undefined;
  /** Drops the events `deaf` still asks for; an emptied batch is not passed on (an empty one means a loss). */
  const filter = (events: WatchEvent[]): WatchEvent[] => {
    const d = deaf;
    if (d === undefined) return events;
    const kept = events.slice(Math.min(d.left, events.length));
    d.left -= events.length - kept.length;
    if (d.left === 0) {
      deaf = undefined;
      d.done();
    }
    return kept;
  };
  let hold: { prefix: string; during: () => Promise<void>; done: (err?: unknown) => void } | undefined;
  const store = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'watch') {
        return (prefix: string, from: number, l: (events: WatchEvent[]) => void, signal: AbortSignal) => {
          listener = l;
          return target.watch(prefix, from, (events) => {
            const kept = events.length === 0 ? events : filter(events);
            if (events.length === 0 || kept.length > 0) l(kept);
          }, signal);
        };
      }
      if (prop === 'range') {
        return async (...args: Parameters<Store['range']>) => {
          const result = await target.range(...args);
          const h = hold;
          if (h !== undefined && args[0] === h.prefix) {
            hold = undefined;
            await h.during().then(() => h.done(), h.done);
          }
          ranges++;
          return result;
        };
      }
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return {
    store,
    lose: () => listener?.([]),
    swallow: (n) => new Promise<void>((done) => (deaf = { left: n, done })),
    ranges: () => ranges,
    holdRange: (prefix, during) =>
      new Promise<void>((resolve, reject) => {
        hold = { prefix, during, done: (err) => (err === undefined ? resolve() : reject(err as Error)) };
      }),
  };
}

const stops: AbortController[] = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) s.abort();
  for (const s of stores.splice(0)) await s.close();
});

async function ledgerOn(store: Store): Promise<UsageLedger> {
  const stop = new AbortController();
  stops.push(stop);
  const ledger = new UsageLedger(store, silentLogger());
  await ledger.start(stop.signal);
  return ledger;
}

/** What a fresh ledger counts in the store now: the figure a restart would show. */
async function recount(store: Store): Promise<number> {
  return (await ledgerOn(store)).usage(NS);
}

describe('quota ledger: a rescan interleaved with writes', () => {
  it('keeps deletes, growths and new keys that land between a range snapshot and its answer', async () => {
    const inner = openSqliteStore({ path: ':memory:' });
    stores.push(inner);
    await inner.txn([], [put(`q/n/${NS}/jobs`, '{}'), put(msg('1'), 'x'.repeat(100)), put(msg('2'), 'y'.repeat(100)), put(msg('3'), 'z')]);
    const g = gated(inner);
    const ledger = await ledgerOn(g.store);
    expect(ledger.usage(NS)).toBe(await recount(inner));

    // Lost with the change stream: 5 posted and 2 grown. Only a rescan that is kept repairs the ledger.
    const lost = g.swallow(2);
    await inner.txn([], [put(msg('5'), 'v'.repeat(500)), put(msg('2'), 'y'.repeat(250))]);
    await lost;
    expect(ledger.usage(NS)).toBeLessThan(await recount(inner));
    expect(ledger.sizeOf(msg('5'))).toBe(0);

    // The messages' range has read its snapshot; before the ledger sees it, 1 is deleted, 3 grows and 4 is posted.
    const written = g.holdRange('q/d/', async () => {
      await inner.txn([], [{ type: 'delete', key: msg('1') }]);
      await inner.txn([], [put(msg('3'), 'z'.repeat(300))]);
      await inner.txn([], [put(msg('4'), 'w'.repeat(50))]);
    });
    const before = g.ranges();
    g.lose();
    await written;
    await expect.poll(() => g.ranges(), { timeout: 5000 }).toBeGreaterThanOrEqual(before + 5);
    expect(ledger.usage(NS)).toBe(await recount(inner));
    expect(ledger.sizeOf(msg('1'))).toBe(0);
    expect(ledger.sizeOf(msg('5'))).toBeGreaterThan(0);

    // And it goes on following: a write after the rescan is counted once.
    await inner.txn([], [{ type: 'delete', key: msg('2') }]);
    expect(ledger.usage(NS)).toBe(await recount(inner));
  });

  it('a second loss during a rescan: the later rescan wins, nothing is counted twice', async () => {
    const inner = openSqliteStore({ path: ':memory:' });
    stores.push(inner);
    await inner.txn([], [put(msg('1'), 'a'.repeat(10)), put(msg('2'), 'b'.repeat(20))]);
    const g = gated(inner);
    const ledger = await ledgerOn(g.store);
    const lost = g.swallow(1);
    await inner.txn([], [put(msg('3'), 'c'.repeat(70))]);
    await lost;
    expect(ledger.usage(NS)).toBeLessThan(await recount(inner));
    const written = g.holdRange('q/d/', async () => {
      await inner.txn([], [put(msg('2'), 'b'.repeat(200))]);
      g.lose();
      await inner.txn([], [{ type: 'delete', key: msg('1') }]);
    });
    const before = g.ranges();
    g.lose();
    await written;
    await expect.poll(() => g.ranges(), { timeout: 5000 }).toBeGreaterThanOrEqual(before + 10);
    expect(ledger.usage(NS)).toBe(await recount(inner));
  });
});
