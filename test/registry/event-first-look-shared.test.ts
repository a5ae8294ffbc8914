import { describe, expect, it, vi } from 'vitest';
import type { RegistryService } from '../../src/registry/service.js';
import type { RegistryEvent } from '../../src/registry/types.js';
import type { EtcdStore } from '../../src/store/etcd.js';
import { useEtcd } from '../helpers/etcd.js';
import { openEtcdRegistries, useOpenRegistries } from '../helpers/etcd-registries.js';

/**
 * Followers' next long-polls from one marker (a fan-out: every follower was
 * given the same last id) share one watch history replay on etcd, as they
 * shared one read before first looks parked: N polls are one `store.watch`
 * of the replay (plus the tenant's waiting watch), not N. No event is
 * missed for it.
 */

interface Server {
  service: RegistryService;
  store: EtcdStore;
}

const T = 'fanout';
const N = 200;
const valueOf = (e: RegistryEvent): string => (e.payload as { new_value: string }).new_value;

describe('first looks of many followers from one marker on etcd', () => {
  const etcd = useEtcd();
  const open = useOpenRegistries();

  function servers(n: number): Promise<Server[]> {
    return openEtcdRegistries(etcd().endpoints, open, n);
  }

  /** A tenant with history, and the last id a follower was given (its caught-up page is kept). */
  async function seeded(a: Server, b: Server): Promise<string> {
    await a.service.setConfig(T, '/app/value', { value: 'v0' });
    // Other changes of the tenant since: history a first look's replay scans.
    for (let i = 0; i < 5; i++) await b.service.setConfig(T, `/app/other-x${i}`, { value: `o${i}` });
    await a.service.setConfig(T, '/app/value', { value: 'v1' });
    return (await a.service.listEvents(T, { limit: 1000 })).values.at(-1)!.id;
  }

  it(`${N} polls from one marker replay the watch history once, and end at their deadline with the marker's page`, async () => {
    const [a, b] = (await servers(2)) as [Server, Server];
    const marker = await seeded(a, b);
    const watch = vi.spyOn(a.store, 'watch');
    const range = vi.spyOn(a.store, 'range');
    const pages = await Promise.all(Array.from({ length: N }, () => a.service.listEvents(T, { marker, limit: 1000, wait: 2 })));
    for (const p of pages) expect(p.values.map(valueOf)).toEqual(['v1']);
    // One replay for the first looks, the tenant's waiting watch, one move for the woken looks; a slow
    // machine may split the polls over a reopened waiting watch. Unshared, it is one replay a poll.
    expect(watch.mock.calls.length).toBeLessThanOrEqual(6);
    expect(range).not.toHaveBeenCalled();
  });

  it(`${N} polls from one marker see a write through the other server, each once, with few replays`, async () => {
    const [a, b] = (await servers(2)) as [Server, Server];
    const marker = await seeded(a, b);
    const watch = vi.spyOn(a.store, 'watch');
    const polls = Array.from({ length: N }, () => a.service.listEvents(T, { marker, limit: 1000, wait: 20 }));
    // The first parked poll opened the tenant's waiting watch (its replay came first).
    await vi.waitFor(() => expect(watch.mock.calls.length).toBeGreaterThanOrEqual(2), { timeout: 10_000 });
    const started = Date.now();
    await b.service.setConfig(T, '/app/value', { value: 'v2' });
    const pages = await Promise.all(polls);
    // Woken by the change, not ended by the deadline.
    expect(Date.now() - started).toBeLessThan(15_000);
    const read = await b.service.listEvents(T, { marker, limit: 1000 });
    expect(read.values.map(valueOf)).toEqual(['v1', 'v2']);
    for (const p of pages) expect(p).toEqual(read);
    expect(watch.mock.calls.length).toBeLessThanOrEqual(10);
  });
});
