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
  /** The key of the page's last event, when known. */
  last?: string | undefined;
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
  return extendBase(base, changes, type, limit)?.page;
}

/** `extendPage`, with the key of the new page's last event (when known). */
export function extendBase(
  base: PageBase,
  changes: readonly WatchEvent[],
  type: EventType | null,
  limit: number,
): { page: Page<RegistryEvent>; last: string | undefined } | undefined {
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
  const page = toPage([...base.page.values, ...fresh.map((f) => f.event)], limit, undefined, null);
  return { page, last: fresh.at(-1)?.key ?? base.last };
}

/**
 * The caught-up page for a marker equal to `page`'s last event, as of
 * `revision`, or undefined when `page` cannot say (empty, or more follows:
 * next_marker). A complete page answered at watched revision `revision`
 * holds every event of its type after its start up to there, so nothing of
 * that type follows its last one yet. The follower's next long-poll (from
 * that last id) then parks without a read: the base moved forward with the
 * watch history shows whether anything came since.
 */
export function tailBase(page: Page<RegistryEvent>, lastKey: string | undefined, revision: number, limit: number): PageBase | undefined {
  const last = page.values.at(-1);
  if (last === undefined || lastKey === undefined || page.metadata.next_marker !== null) return undefined;
  return { page: toPage([last], limit, undefined, null), from: lastKey, revision, last: lastKey };
}

/** True when `page` holds something after `marker`'s own event (what ends a long-poll's wait). */
export function hasNews(page: Page<RegistryEvent>, marker: string | null): boolean {
  // A next page means newer events exist even when this one (limit=1) holds only the marker's.
  return page.values.length > 1 || (page.values.length === 1 && page.values[0]?.id !== marker) || page.metadata.next_marker !== null;
}
