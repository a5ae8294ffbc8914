import { hasCode } from '../lib/errors.js';
import type { Entry, Store } from '../store/store.js';
import { unchanged, type Ctx } from './context.js';
import { keys, LEGACY_BEAT_KINDS } from './keys.js';
import { legacyBeatsOf } from './legacy-beats.js';

const LAYOUT = '2';

/**
 * Moves heartbeat state from where registries before session 10 kept it
 * (`t/{t}/h/{id}`, `t/{t}/m/{id}`) to its unwatched place (keys.ts), with
 * its value and lease, so services and sessions of an upgraded etcd keep
 * their token chains and deadlines. Runs when a registry opens, before it
 * loads deadlines, until a run has marked the store done (keys.beatLayout);
 * idempotent, and safe with several servers starting at once (each move
 * compares both keys). Only etcd data has any: the SQLite engine keeps
 * heartbeat state in memory. Returns how many keys moved.
 *
 * Older servers still running (a rolling upgrade) keep writing the legacy
 * keys after the mark: expiry.ts reads them before it expires anything, and a
 * heartbeat on a new server moves such a chain (beats.ts readBeat).
 */
export async function migrateBeatKeys(ctx: Ctx): Promise<number> {
  const { store } = ctx;
  // Lease-bound state does not outlive a restart of the SQLite engine; on etcd, once done is done.
  const tracker = legacyBeatsOf(ctx);
  if (tracker === undefined) return 0;
  // The last sighting comes with the mark (one request): a server starting mid-upgrade reads legacy last_seen at once.
  const [mark, seen] = await store.getMany([keys.beatLayout, keys.legacySeen]);
  tracker.load(seen);
  if (mark?.value === LAYOUT) return 0;
  const { entries: accounts } = await store.range(keys.accountPrefix);
  let moved = 0;
  for (const account of accounts) {
    const tenant = account.key.slice(keys.accountPrefix.length);
    for (const kind of LEGACY_BEAT_KINDS) {
      const legacy = kind.legacyPrefix(tenant);
      const { entries } = await store.range(legacy);
      if (entries.length === 0) continue;
      await tracker.seen();
      const to = kind.prefix(tenant);
      const done = await Promise.all(entries.map((e) => moveOne(store, e, to + e.key.slice(legacy.length))));
      moved += done.filter(Boolean).length;
    }
  }
  // Two ranges per tenant on every start would add up on etcd (a round trip each): the mark skips them.
  await store.txn([], [{ type: 'put', key: keys.beatLayout, value: LAYOUT }]);
  if (moved > 0) ctx.log.info({ moved }, 'heartbeat state moved to its unwatched keys');
  return moved;
}

/** One key to its new place; false when it changed, expired, or another server moved it first. */
async function moveOne(store: Store, e: Entry, to: string): Promise<boolean> {
  try {
    const put = e.lease === 0 ? { type: 'put' as const, key: to, value: e.value } : { type: 'put' as const, key: to, value: e.value, lease: e.lease };
    const res = await store.txn([unchanged(e.key, e), { key: to, op: 'absent' }], [put, { type: 'delete', key: e.key }]);
    return res.succeeded;
  } catch (err) {
    // Its lease expired since the range: the state is gone either way.
    if (hasCode(err, 'store.lease_not_found')) return false;
    throw err;
  }
}
