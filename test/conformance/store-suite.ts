/**
 * The behaviour every `Store` engine must show (SQLite, etcd): one suite, run
 * against each engine by its own `*.test.ts`. It waits with `vi.waitFor` and
 * deadlines; the one sleep lets a lease's original TTL pass.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TetherError } from '../../src/lib/errors.js';
import type { Op, Store, WatchEvent } from '../../src/store/store.js';

/** What an engine's test hands the suite for each test: a fresh, empty store. */
export interface StoreHarness {
  store: Store;
  /** Closes the store and opens a new one over the same data. */
  reopen?: () => Promise<Store>;
  /** Closes whichever store is current and removes its data. */
  cleanup: () => Promise<void>;
}

export interface StoreConformanceOptions {
  /** Leases and lease-bound keys do not survive a reopen (the SQLite engine). */
  volatileLeases?: boolean;
  /** A short lease TTL the engine honours (default 400 ms). */
  leaseTtlMs?: number;
  /** Makes the store forget watch history before its current revision; without it that test is not registered. */
  compact?: (store: Store) => Promise<void>;
  /** The harness can reopen its data (false for an in-memory database): registers the reopen tests. */
  reopens?: boolean;
}

const put = (key: string, value: string, lease?: number): Op =>
  lease === undefined ? { type: 'put', key, value } : { type: 'put', key, value, lease };
const del = (key: string): Op => ({ type: 'delete', key });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes one key; returns the txn's revision. */
async function write(store: Store, key: string, value: string, lease?: number): Promise<number> {
  const r = await store.txn([], [put(key, value, lease)]);
  expect(r.succeeded).toBe(true);
  return r.revision;
}

async function keysUnder(store: Store, prefix: string): Promise<string[]> {
  return (await store.range(prefix)).entries.map((e) => e.key);
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TetherError);
  expect((err as TetherError).code).toBe(code);
}

/** Registers the vitest suite `Store conformance: <name>`; `open` is called before each test. */
export function describeStoreConformance(
  name: string,
  open: () => Promise<StoreHarness>,
  options: StoreConformanceOptions = {},
): void {
  const ttl = options.leaseTtlMs ?? 400;
  const waitLong = { timeout: ttl * 10 + 2_000, interval: 10 };

  describe(`Store conformance: ${name}`, () => {
    let h: StoreHarness;
    let store: Store;
    let watches: AbortController[];

    beforeEach(async () => {
      h = await open();
      store = h.store;
      watches = [];
    });

    afterEach(async () => {
      for (const c of watches) c.abort();
      await h.cleanup();
    });

    /** Watches `prefix` from `from`, collecting events until the test ends or `ctrl` aborts. */
    async function collect(prefix: string, from: number) {
      const ctrl = new AbortController();
      watches.push(ctrl);
      const events: WatchEvent[] = [];
      await store.watch(prefix, from, (batch) => events.push(...batch), ctrl.signal);
      return { events, ctrl };
    }

    describe('keys', () => {
      it('put then get returns the value, its modRevision and lease 0', async () => {
        const rev = await write(store, '/k/a', 'one');
        expect(await store.get('/k/a')).toEqual({ key: '/k/a', value: 'one', modRevision: rev, lease: 0 });
        expect(await store.get('/k/missing')).toBeUndefined();
      });

      it('a second put replaces the value and moves modRevision', async () => {
        await write(store, '/k/a', 'one');
        const rev = await write(store, '/k/a', 'two');
        expect(await store.get('/k/a')).toMatchObject({ value: 'two', modRevision: rev });
      });

      it('delete removes the key; deleting a missing key changes nothing', async () => {
        await write(store, '/k/a', 'one');
        const r = await store.txn([], [del('/k/a')]);
        expect(r.succeeded).toBe(true);
        expect(await store.get('/k/a')).toBeUndefined();
        const again = await store.txn([], [del('/k/a')]);
        expect(again).toEqual({ succeeded: true, revision: r.revision });
      });

      it('range returns the keys under the prefix in byte order', async () => {
        const keys = ['/r/b', '/r/a', '/r/B', '/r/a/x', '/r/a0', '/r/', '/r', '/ra', '/q/z', '/s/a'];
        for (const k of keys) await write(store, k, `v${k}`);
        const res = await store.range('/r/');
        expect(res.entries.map((e) => e.key)).toEqual(['/r/', '/r/B', '/r/a', '/r/a/x', '/r/a0', '/r/b']);
        expect(res.entries[2]).toMatchObject({ key: '/r/a', value: 'v/r/a', lease: 0 });
        expect(res.revision).toBe(await store.revision());
        expect(await keysUnder(store, '/r')).toEqual(['/r', '/r/', '/r/B', '/r/a', '/r/a/x', '/r/a0', '/r/b', '/ra']);
        expect(await keysUnder(store, '/nothing/')).toEqual([]);
      });

      it('getMany reads several keys at once, in the order asked, missing ones undefined', async () => {
        const ra = await write(store, '/m/a', '1');
        const rb = await write(store, '/m/b', '2');
        expect(await store.getMany(['/m/b', '/m/none', '/m/a'])).toEqual([
          { key: '/m/b', value: '2', modRevision: rb, lease: 0 },
          undefined,
          { key: '/m/a', value: '1', modRevision: ra, lease: 0 },
        ]);
        expect(await store.getMany(['/m/a'])).toEqual([{ key: '/m/a', value: '1', modRevision: ra, lease: 0 }]);
      });

      it('range honours from, to and limit, within the prefix', async () => {
        for (const k of ['a', 'b', 'c', 'd', 'e']) await write(store, `/p/${k}`, k);
        await write(store, '/o', 'outside');
        await write(store, '/q', 'outside');
        const keys = async (opts: { from?: string; to?: string; limit?: number }) =>
          (await store.range('/p/', opts)).entries.map((e) => e.key);
        expect(await keys({ from: '/p/b' })).toEqual(['/p/b', '/p/c', '/p/d', '/p/e']);
        expect(await keys({ from: '/p/bb' })).toEqual(['/p/c', '/p/d', '/p/e']);
        expect(await keys({ to: '/p/c' })).toEqual(['/p/a', '/p/b']);
        expect(await keys({ from: '/p/b', to: '/p/d' })).toEqual(['/p/b', '/p/c']);
        expect(await keys({ limit: 2 })).toEqual(['/p/a', '/p/b']);
        expect(await keys({ from: '/p/c', limit: 2 })).toEqual(['/p/c', '/p/d']);
        expect(await keys({ from: '/', to: '/z' })).toEqual(['/p/a', '/p/b', '/p/c', '/p/d', '/p/e']);
      });

      it('count counts the keys under the prefix', async () => {
        for (const k of ['/c/a', '/c/b', '/c/b/c', '/cc', '/d']) await write(store, k, 'x');
        expect(await store.count('/c/')).toBe(3);
        expect(await store.count('/c')).toBe(4);
        expect(await store.count('/none/')).toBe(0);
      });
    });

    describe('transactions', () => {
      it('compare absent succeeds on a missing key and fails, writing nothing, on a present one', async () => {
        const ok = await store.txn([{ key: '/t/a', op: 'absent' }], [put('/t/a', '1')]);
        expect(ok.succeeded).toBe(true);
        const failed = await store.txn([{ key: '/t/a', op: 'absent' }], [put('/t/a', '2'), put('/t/b', '2')]);
        expect(failed).toEqual({ succeeded: false, revision: ok.revision });
        expect(await store.get('/t/a')).toMatchObject({ value: '1', modRevision: ok.revision });
        expect(await store.get('/t/b')).toBeUndefined();
      });

      it('compare modRevision succeeds on the exact revision only; a failure writes nothing', async () => {
        const r1 = await write(store, '/t/a', '1');
        await write(store, '/t/b', 'b');
        const stale = await store.txn(
          [{ key: '/t/a', op: 'modRevision', revision: r1 - 1 }],
          [put('/t/a', 'x'), del('/t/b'), { type: 'deleteRange', start: '/t/', end: '/t/\uffff' }],
        );
        expect(stale.succeeded).toBe(false);
        expect(stale.revision).toBe(await store.revision());
        expect(await keysUnder(store, '/t/')).toEqual(['/t/a', '/t/b']);
        expect(await store.get('/t/a')).toMatchObject({ value: '1', modRevision: r1 });
        const missing = await store.txn([{ key: '/t/zz', op: 'modRevision', revision: r1 }], [put('/t/c', 'c')]);
        expect(missing.succeeded).toBe(false);
        const ok = await store.txn([{ key: '/t/a', op: 'modRevision', revision: r1 }], [put('/t/a', '2')]);
        expect(ok.succeeded).toBe(true);
        expect(await store.get('/t/a')).toMatchObject({ value: '2', modRevision: ok.revision });
      });

      it('every compare must hold', async () => {
        const r1 = await write(store, '/t/a', '1');
        const r = await store.txn(
          [
            { key: '/t/a', op: 'modRevision', revision: r1 },
            { key: '/t/a', op: 'absent' },
          ],
          [put('/t/b', 'b')],
        );
        expect(r.succeeded).toBe(false);
        expect(await store.get('/t/b')).toBeUndefined();
      });

      it('applies all ops at one new revision', async () => {
        await write(store, '/t/old', 'x');
        const r = await store.txn([], [put('/t/a', 'a'), put('/t/b', 'b'), del('/t/old')]);
        expect(r.revision).toBe(await store.revision());
        expect((await store.get('/t/a'))?.modRevision).toBe(r.revision);
        expect((await store.get('/t/b'))?.modRevision).toBe(r.revision);
        expect(await store.get('/t/old')).toBeUndefined();
      });

      it('deleteRange deletes [start, end) and nothing else', async () => {
        for (const k of ['/d/a', '/d/b', '/d/b/x', '/d/c', '/d/d', '/e']) await write(store, k, 'x');
        const r = await store.txn([], [{ type: 'deleteRange', start: '/d/b', end: '/d/d' }]);
        expect(r.succeeded).toBe(true);
        expect(await keysUnder(store, '/')).toEqual(['/d/a', '/d/d', '/e']);
        const all = await store.txn([], [{ type: 'deleteRange', start: '/d/', end: '/d/\uffff' }]);
        expect(all.revision).toBe(r.revision + 1);
        expect(await keysUnder(store, '/')).toEqual(['/e']);
      });

      it('the revision grows by one per writing txn and stays put otherwise', async () => {
        const r0 = await store.revision();
        const r1 = await write(store, '/v/a', '1');
        expect(r1).toBe(r0 + 1);
        expect(await store.txn([], [])).toEqual({ succeeded: true, revision: r1 });
        expect((await store.txn([{ key: '/v/a', op: 'absent' }], [put('/v/b', '1')])).revision).toBe(r1);
        expect((await store.txn([], [del('/v/missing')])).revision).toBe(r1);
        expect(await store.revision()).toBe(r1);
        expect(await write(store, '/v/b', '2')).toBe(r1 + 1);
        expect(await store.revision()).toBe(r1 + 1);
      });
    });

    describe('leases', () => {
      it('grants distinct positive ids', async () => {
        const a = await store.grantLease(60_000);
        const b = await store.grantLease(60_000);
        expect(a).toBeGreaterThan(0);
        expect(b).toBeGreaterThan(0);
        expect(a).not.toBe(b);
      });

      it('lease-bound keys read, range, count, compare and watch like other keys', async () => {
        const lease = await store.grantLease(60_000);
        const w = await collect('/l/', (await store.revision()) + 1);
        await write(store, '/l/a', 'durable');
        const rb = await write(store, '/l/b', 'bound', lease);
        await write(store, '/l/c', 'durable');
        expect(await store.get('/l/b')).toEqual({ key: '/l/b', value: 'bound', modRevision: rb, lease });
        expect(await keysUnder(store, '/l/')).toEqual(['/l/a', '/l/b', '/l/c']);
        expect((await store.range('/l/', { from: '/l/b', limit: 1 })).entries.map((e) => e.key)).toEqual(['/l/b']);
        expect(await store.count('/l/')).toBe(3);
        const cas = await store.txn([{ key: '/l/b', op: 'modRevision', revision: rb }], [put('/l/b', 'next', lease)]);
        expect(cas.succeeded).toBe(true);
        expect(await store.txn([{ key: '/l/b', op: 'absent' }], [])).toMatchObject({ succeeded: false });
        await vi.waitFor(() => expect(w.events.map((e) => e.key)).toEqual(['/l/a', '/l/b', '/l/c', '/l/b']));
      });

      it('deletes the keys of an expired lease and reports them to watchers', async () => {
        const lease = await store.grantLease(ttl);
        const { revision: rev } = await store.txn([], [put('/x/a', '1', lease), put('/x/b', '2', lease)]);
        await write(store, '/x/keep', '3');
        const w = await collect('/x/', rev);
        await vi.waitFor(async () => expect(await keysUnder(store, '/x/')).toEqual(['/x/keep']), waitLong);
        await vi.waitFor(() => {
          const deletes = w.events.filter((e) => e.type === 'delete');
          expect(deletes.map((e) => [e.key, e.value]).sort()).toEqual([
            ['/x/a', null],
            ['/x/b', null],
          ]);
          expect(deletes[0]!.revision).toBeGreaterThan(rev);
        });
      });

      it('revokeLease deletes its keys at once; unknown leases are ignored', async () => {
        const lease = await store.grantLease(60_000);
        await write(store, '/x/a', '1', lease);
        await write(store, '/x/b', '2', lease);
        const before = await store.revision();
        await store.revokeLease(lease);
        expect(await keysUnder(store, '/x/')).toEqual([]);
        expect(await store.revision()).toBeGreaterThan(before);
        expect(await store.keepAlive(lease)).toBe(false);
        await store.revokeLease(lease);
        await store.revokeLease(987_654_321);
      });

      it('keepAlive renews the lease for its granted TTL', async () => {
        const lease = await store.grantLease(ttl);
        await write(store, '/x/a', '1', lease);
        // Renewed every quarter TTL for two TTLs: it outlives its first expiry.
        for (let i = 0; i < 8; i++) {
          await sleep(ttl / 4);
          expect(await store.keepAlive(lease)).toBe(true);
        }
        expect(await store.get('/x/a')).toBeDefined();
        await vi.waitFor(async () => expect(await store.get('/x/a')).toBeUndefined(), waitLong);
      });

      it('keepAlive returns false after expiry and for unknown leases', async () => {
        const lease = await store.grantLease(ttl);
        await write(store, '/x/a', '1', lease);
        await vi.waitFor(async () => expect(await store.get('/x/a')).toBeUndefined(), waitLong);
        expect(await store.keepAlive(lease)).toBe(false);
        expect(await store.keepAlive(987_654_321)).toBe(false);
      });

      it('a put without a lease detaches the key from its lease', async () => {
        const lease = await store.grantLease(60_000);
        await write(store, '/x/a', 'bound', lease);
        const rev = await write(store, '/x/a', 'free');
        expect(await store.get('/x/a')).toEqual({ key: '/x/a', value: 'free', modRevision: rev, lease: 0 });
        await store.revokeLease(lease);
        expect(await store.get('/x/a')).toMatchObject({ value: 'free' });
      });
    });

    describe('watch', () => {
      it('delivers history from a past revision, then live events, in order and by prefix', async () => {
        const r1 = await write(store, '/w/a', '1');
        await write(store, '/other', 'x');
        await store.txn([], [put('/w/b', '2'), del('/w/a')]);
        const w = await collect('/w/', r1);
        // A remote engine (etcd) may still be streaming the history when watch() resolves.
        await vi.waitFor(() =>
          expect(w.events.map((e) => [e.type, e.key, e.value, e.revision])).toEqual([
            ['put', '/w/a', '1', r1],
            ['put', '/w/b', '2', r1 + 2],
            ['delete', '/w/a', null, r1 + 2],
          ]),
        );
        const r4 = await write(store, '/w/c', '3');
        await write(store, '/x/ignored', 'x');
        const r6 = await write(store, '/w/d', '4');
        await vi.waitFor(() =>
          expect(w.events.slice(3).map((e) => [e.key, e.revision])).toEqual([
            ['/w/c', r4],
            ['/w/d', r6],
          ]),
        );
      });

      it('a watch from range revision + 1 misses nothing after the range', async () => {
        await write(store, '/w/a', '1');
        const snapshot = await store.range('/w/');
        const r = await write(store, '/w/b', '2');
        const w = await collect('/w/', snapshot.revision + 1);
        await vi.waitFor(() => expect(w.events.map((e) => [e.key, e.revision])).toEqual([['/w/b', r]]));
      });

      const compact = options.compact;
      // Not every engine can be told to forget history on demand; CI runs no skipped tests, so it is only registered when it can.
      if (compact) it('rejects with store.compacted for a forgotten revision', async () => {
        const r1 = await write(store, '/w/a', '1');
        await compact(store);
        const ctrl = new AbortController();
        watches.push(ctrl);
        await expectCode(store.watch('/w/', r1, () => {}, ctrl.signal), 'store.compacted');
        const w = await collect('/w/', (await store.revision()) + 1);
        const r2 = await write(store, '/w/b', '2');
        await vi.waitFor(() => expect(w.events.map((e) => e.revision)).toEqual([r2]));
      });

      it('a watch from watchedRevision() + 1 misses nothing written after the call', async () => {
        await write(store, '/w/a', '1');
        const from = (await store.watchedRevision()) + 1;
        expect(from).toBeLessThanOrEqual((await store.revision()) + 1);
        const w = await collect('/w/', from);
        const r = await write(store, '/w/b', '2');
        await vi.waitFor(() => expect(w.events.map((e) => [e.key, e.revision])).toContainEqual(['/w/b', r]));
      });

      it('stops delivering once the signal aborts', async () => {
        const from = (await store.revision()) + 1;
        const w = await collect('/w/', from);
        const fence = await collect('/fence/', from);
        await write(store, '/w/a', '1');
        await vi.waitFor(() => expect(w.events).toHaveLength(1));
        w.ctrl.abort();
        await write(store, '/w/b', '2');
        await write(store, '/fence/a', '1');
        await vi.waitFor(() => expect(fence.events).toHaveLength(1));
        expect(w.events).toHaveLength(1);
      });

      it('a watch on an already-aborted signal resolves and never calls the listener', async () => {
        const r1 = await write(store, '/w/a', '1');
        const listener = vi.fn();
        await store.watch('/w/', r1, listener, AbortSignal.abort());
        const fence = await collect('/w/', r1 + 1);
        await write(store, '/w/b', '2');
        await vi.waitFor(() => expect(fence.events).toHaveLength(1));
        expect(listener).not.toHaveBeenCalled();
      });
    });

    if (options.reopens !== false) describe('reopen', () => {
      it('keeps durable keys and the revision', async () => {
        if (h.reopen === undefined) throw new Error('this harness cannot reopen: pass { reopens: false }');
        const lease = await store.grantLease(60_000);
        const durable = await write(store, '/o/durable', 'kept');
        const bound = await write(store, '/o/bound', 'volatile', lease);
        store = await h.reopen();
        expect(await store.get('/o/durable')).toEqual({ key: '/o/durable', value: 'kept', modRevision: durable, lease: 0 });
        const rev = await store.revision();
        expect(rev).toBeGreaterThanOrEqual(durable);
        if (options.volatileLeases === true) {
          expect(await store.get('/o/bound')).toBeUndefined();
          expect(await keysUnder(store, '/o/')).toEqual(['/o/durable']);
          expect(await store.keepAlive(lease)).toBe(false);
        } else {
          expect(rev).toBeGreaterThanOrEqual(bound);
        }
        expect(await write(store, '/o/next', 'x')).toBeGreaterThan(Math.max(rev, durable));
      });
    });
  });
}
