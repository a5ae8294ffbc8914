import { hasCode } from '../lib/errors.js';
import type { Store, WatchEvent } from '../store/store.js';
import { toPage } from './paging.js';
import type { EventType, Page, RegistryEvent } from './types.js';

/**
 * A caught-up page moved forward with the store's watch history instead of
 * a read: on etcd the long-poll woken by a change then answers without a
 * round trip to etcd (the watch stream already brought the new events).
 *
 * A caught-up page (nothing after the marker's own event) read at watched
 * revision X, plus every event committed after X, is the page now: events
 * are keyed in commit order, so new ones sort after everything that was
 * there. Anything less certain gives up (undefined) and the caller reads:
 * history no longer kept, a deleted event (a trim), more than `limit`.
 */

/** A caught-up page, with where its read started and the watched revision it was read at. */
export interface PageBase {
  page: Page<RegistryEvent>;
  /** The event key the page's read started from (inclusive). */
  from: string;
  revision: number;
}

/**
 * The changes under `prefix` at revisions >= `from` that the store's watch
 * has delivered so far; undefined when they are no longer kept. Both engines
 * hand a new watcher its history before `watch` resolves (WatchFeed), which
 * is what this reads; the watcher is dropped at once.
 */
export async function changesSince(store: Store, prefix: string, from: number): Promise<WatchEvent[] | undefined> {
  const got: WatchEvent[] = [];
  let lost = false;
  const stop = new AbortController();
  try {
    await store.watch(
      prefix,
      from,
      (events) => {
        if (events.length === 0) lost = true;
        else for (const e of events) got.push(e);
      },
      stop.signal,
    );
  } catch (err) {
    if (hasCode(err, 'store.compacted')) return undefined;
    throw err;
  } finally {
    stop.abort();
  }
  return lost ? undefined : got;
}

/** `base` moved forward by `changes` (every change under the tenant's event prefix since its revision), or undefined. */
export function extendPage(base: PageBase, changes: readonly WatchEvent[], type: EventType | null, limit: number): Page<RegistryEvent> | undefined {
  const known = new Set(base.page.values.map((e) => e.id));
  const fresh: Array<{ key: string; event: RegistryEvent }> = [];
  for (const c of changes) {
    if (c.type !== 'put' || c.value === null) return undefined;
    if (c.key < base.from) continue;
    const event = JSON.parse(c.value) as RegistryEvent;
    // The base's read may already have seen a change the watch brought after its revision (the marker's own event).
    if (known.has(event.id) || (type !== null && event.type !== type)) continue;
    fresh.push({ key: c.key, event });
  }
  if (base.page.values.length + fresh.length > limit) return undefined;
  fresh.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return toPage([...base.page.values, ...fresh.map((f) => f.event)], limit, undefined, null);
}
