import { describe, expect, it, vi } from 'vitest';
import type { RegistryService } from '../../src/registry/service.js';
import type { RegistryEvent } from '../../src/registry/types.js';
import type { EtcdStore } from '../../src/store/etcd.js';
import { useEtcd } from '../helpers/etcd.js';
import { openEtcdRegistries, useOpenRegistries } from '../helpers/etcd-registries.js';

/**
 * A follower's next long-poll (a first look from the last id it was given)
 * parks on etcd without reading: the page it would read is known (the last
 * page ended there), and the watch history since says whether anything came
 * after. It must never miss an event committed between its marker and its
 * parking, on this server or another.
 */

interface Server {
  service: RegistryService;
  store: EtcdStore;
}

const T = 'firstlook';
const valueOf = (e: RegistryEvent): string => (e.payload as { new_value: string }).new_value;

describe('a first look on etcd from the last id of a page', () => {
  const etcd = useEtcd();
  const open = useOpenRegistries();

  function servers(n: number): Promise<Server[]> {
    return openEtcdRegistries(etcd().endpoints, open, n);
  }

  it('parks with no read, and a write through the other server wakes it with the page a read gives', async () => {
    const [a, b] = (await servers(2)) as [Server, Server];
    await a.service.setConfig(T, '/app/value', { value: 'v0' });
    // A page with news: its last id is where the follower polls from next.
    let marker = (await a.service.listEvents(T, { limit: 1000 })).values.at(-1)!.id;
    for (let round = 1; round <= 3; round++) {
      const range = vi.spyOn(a.store, 'range');
      const getMany = vi.spyOn(a.store, 'getMany');
      const watches = openWatches(a);
      const polling = a.service.listEvents(T, { marker, limit: 1000, wait: 10 });
      // Parked: it holds a watch open on the store, and read nothing.
      await vi.waitFor(() => expect(watches.open()).toBe(1), { timeout: 5000 });
      expect(range).not.toHaveBeenCalled();
      expect(getMany).not.toHaveBeenCalled();
      range.mockRestore();
      getMany.mockRestore();
      watches.restore();
      await b.service.setConfig(T, '/app/value', { value: `v${round}` });
      const page = await polling;
      expect(page.values.map(valueOf)).toEqual([`v${round - 1}`, `v${round}`]);
      expect(page).toEqual(await b.service.listEvents(T, { marker, limit: 1000 }));
      marker = page.values.at(-1)!.id;
    }
  });

  it('answers a change committed through another server after the marker but not yet watched here', async () => {
    const [a, b] = (await servers(2)) as [Server, Server];
    await a.service.setConfig(T, '/app/value', { value: 'v0' });
    let marker = (await a.service.listEvents(T, { limit: 1000 })).values.at(-1)!.id;
    for (let round = 1; round <= 5; round++) {
      // Committed before the poll starts; a's watch may or may not have brought it back yet.
      await b.service.setConfig(T, '/app/value', { value: `v${round}` });
      const started = Date.now();
      const page = await a.service.listEvents(T, { marker, limit: 1000, wait: 10 });
      expect(page.values.map(valueOf)).toEqual([`v${round - 1}`, `v${round}`]);
      // Woken by the watch (or read), not ended by the 10 s deadline.
      expect(Date.now() - started).toBeLessThan(5000);
      marker = page.values.at(-1)!.id;
    }
  });

  it('a no-wait look right after the caller\'s own write sees it (the kept page is never the answer)', async () => {
    const [a] = (await servers(1)) as [Server];
    await a.service.setConfig(T, '/app/value', { value: 'v0' });
    let marker = (await a.service.listEvents(T, { limit: 1000 })).values.at(-1)!.id;
    for (let round = 1; round <= 5; round++) {
      await a.service.setConfig(T, '/app/value', { value: `v${round}` });
      const page = await a.service.listEvents(T, { marker, limit: 1000 });
      expect(page.values.map(valueOf)).toEqual([`v${round - 1}`, `v${round}`]);
      marker = page.values.at(-1)!.id;
    }
  });

  it('followers polling one server see every change written concurrently through two, once each, in commit order', async () => {
    const [a, b] = (await servers(2)) as [Server, Server];
    await a.service.setConfig(T, '/seed', { value: 'seed' });
    const start = (await a.service.listEvents(T, { limit: 1000 })).values.at(-1)!.id;
    const perWriter = 40;
    const range = vi.spyOn(a.store, 'range');
    let polls = 0;
    const follow = async (): Promise<string[]> => {
      const seen: string[] = [];
      let marker = start;
      while (seen.length < 2 * perWriter) {
        polls++;
        const page = await a.service.listEvents(T, { marker, limit: 1000, wait: 10 });
        for (const e of page.values) if (e.id !== marker) seen.push(e.id);
        marker = page.values.at(-1)?.id ?? marker;
      }
      return seen;
    };
    const followers = [follow(), follow()];
    // When a write fails the test ends with the followers still waiting: the close ends them.
    for (const f of followers) f.catch(() => undefined);
    const write = async (s: Server, name: string): Promise<void> => {
      for (let i = 0; i < perWriter; i++) await s.service.setConfig(T, `/app/key-${name}${i % 3}`, { value: `${name}${i}` });
    };
    await Promise.all([write(a, 'a'), write(b, 'b')]);
    const got = await Promise.all(followers);
    const all = (await b.service.listEvents(T, { marker: start, limit: 1000 })).values.map((e) => e.id).slice(1);
    expect(all).toHaveLength(2 * perWriter);
    for (const seen of got) expect(seen).toEqual(all);
    // Most first looks parked without a read (each read is at least one range; reading every first look
    // makes about one range per two polls here). One that finds news in the watch history still reads.
    expect(range.mock.calls.length).toBeLessThan(polls / 4);
  });
});

/**
 * Store watches of `s` in place and not yet stopped, from now on. A parked
 * long-poll holds one; a first look's history replay stops its own as soon
 * as it is in place (before a later turn can count it).
 */
function openWatches(s: Server): { open: () => number; restore: () => void } {
  const watch = s.store.watch.bind(s.store);
  const placed: AbortSignal[] = [];
  const spy = vi.spyOn(s.store, 'watch').mockImplementation((prefix, from, listener, signal) => {
    const inPlace = watch(prefix, from, listener, signal);
    void inPlace.then(
      () => placed.push(signal),
      () => undefined,
    );
    return inPlace;
  });
  return { open: () => placed.filter((sig) => !sig.aborted).length, restore: () => spy.mockRestore() };
}
