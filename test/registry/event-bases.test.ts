import { describe, expect, it, vi } from 'vitest';
import { EventBases } from '../../src/registry/event-bases.js';
import type { PageBase } from '../../src/registry/event-tail.js';
import { toPage } from '../../src/registry/paging.js';
import type { RegistryEvent } from '../../src/registry/types.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';

/**
 * The kept caught-up pages (event-bases.ts): bounded in entries and in
 * characters, the oldest going first, and a first look's move shared by
 * every first look of the same marker at the same watched revision.
 */

const ev = (id: string, value = ''): RegistryEvent =>
  ({ id, timestamp: 0, type: 'configuration_value.update', payload: { new_value: value } }) as unknown as RegistryEvent;
const base = (e: RegistryEvent, revision = 1, from = 't/e/0'): PageBase => ({ page: toPage([e], 1000, undefined, null), from, revision, last: from });

async function withStore(fn: (store: SqliteStore) => Promise<void>): Promise<void> {
  const store = openSqliteStore({ path: ':memory:' });
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

describe('EventBases bounds', () => {
  it('evicts the oldest base past the count bound, not every base', () =>
    withStore(async (store) => {
      const bases = new EventBases(store, 3);
      for (const k of ['a', 'b', 'c', 'd']) bases.keep(k, base(ev(k)));
      expect(bases.size).toBe(3);
      expect(bases.get('a')).toBeUndefined();
      expect(['b', 'c', 'd'].map((k) => bases.get(k)?.page.values[0]?.id)).toEqual(['b', 'c', 'd']);
      // Keeping a key again replaces it (counted once) and makes it the newest.
      bases.keep('b', base(ev('b2')));
      bases.keep('e', base(ev('e')));
      expect(bases.size).toBe(3);
      expect(bases.get('c')).toBeUndefined();
      expect(bases.get('b')?.page.values[0]?.id).toBe('b2');
    }));

  it('bounds the characters held: big events push the oldest out, and one past the bound is not kept', () =>
    withStore(async (store) => {
      const bases = new EventBases(store, 100, 10_000);
      for (const k of ['a', 'b', 'c']) bases.keep(k, base(ev(k, 'x'.repeat(3_000))));
      expect(bases.size).toBe(3);
      const held = bases.heldChars;
      expect(held).toBeGreaterThan(9_000);
      expect(held).toBeLessThanOrEqual(10_000);
      bases.keep('d', base(ev('d', 'x'.repeat(3_000))));
      expect(bases.get('a')).toBeUndefined();
      expect(bases.size).toBe(3);
      expect(bases.heldChars).toBe(held);
      bases.keep('huge', base(ev('huge', 'x'.repeat(20_000))));
      expect(bases.get('huge')).toBeUndefined();
      expect(bases.size).toBe(3);
      // A small one still fits beside the others: nothing is pushed out for it.
      bases.keep('small', base(ev('small')));
      expect(['b', 'c', 'd', 'small'].every((k) => bases.get(k) !== undefined)).toBe(true);
      expect(bases.heldChars).toBeLessThanOrEqual(10_000);
    }));
});

describe('EventBases.caughtUp', () => {
  it('replays the watch history once for 200 first looks of one marker at one revision, and again when it moves', () =>
    withStore(async (store) => {
      const bases = new EventBases(store);
      const marker = ev('m');
      await store.txn([], [{ type: 'put', key: 't/e/0', value: JSON.stringify(marker) }]);
      const r0 = await store.watchedRevision();
      // Other keys changed since the base: history the replay has to scan.
      for (let i = 0; i < 5; i++) await store.txn([], [{ type: 'put', key: `t/other/${i}`, value: '{}' }]);
      bases.keep('k', base(marker, r0));
      const watch = vi.spyOn(store, 'watch');
      const r1 = await store.watchedRevision();
      const pages = await Promise.all(Array.from({ length: 200 }, () => bases.caughtUp('k', 't/e/', 'm', null, 1000, r1)));
      for (const p of pages) expect(p?.values.map((e) => e.id)).toEqual(['m']);
      // Later first looks at the same revision join the kept move too.
      expect((await bases.caughtUp('k', 't/e/', 'm', null, 1000, r1))?.values).toHaveLength(1);
      expect(watch).toHaveBeenCalledTimes(1);
      // A new event after the marker: the revision moved, so the history is replayed, and it shows news.
      await store.txn([], [{ type: 'put', key: 't/e/1', value: JSON.stringify(ev('n')) }]);
      const r2 = await store.watchedRevision();
      expect(r2).toBeGreaterThan(r1);
      const after = await Promise.all(Array.from({ length: 200 }, () => bases.caughtUp('k', 't/e/', 'm', null, 1000, r2)));
      expect(after.every((p) => p === undefined)).toBe(true);
      expect(watch).toHaveBeenCalledTimes(2);
      // A newer base under the key is moved itself, not answered from the older one's move.
      bases.keep('k', base(ev('n'), r2, 't/e/1'));
      expect((await bases.caughtUp('k', 't/e/', 'n', null, 1000, r2))?.values.map((e) => e.id)).toEqual(['n']);
      expect(watch).toHaveBeenCalledTimes(3);
      expect(bases.caughtUp('none', 't/e/', 'm', null, 1000, r2)).toBeUndefined();
    }));
});
