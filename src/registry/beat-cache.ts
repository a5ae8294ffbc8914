import type { BeatRecord, Ctx } from './context.js';

/**
 * What this server last committed for a heartbeat key, enough to plan the
 * next heartbeat without reading the store: on etcd a heartbeat is then one
 * compare-and-put (batched with others), not a read and a compare-and-put.
 * The token check stays in the store: the commit compares the heartbeat key's
 * and the owner's mod revisions with the ones cached here, so a heartbeat
 * made through another server, an update of the owner (its timeout) or its
 * removal fails the compare, and the heartbeat is planned again from a read.
 */
export interface CachedBeat {
  beat: BeatRecord;
  /** Revision of the commit that wrote `beat`: the heartbeat key's mod revision. */
  revision: number;
  lease: number;
  /** The owner record's mod revision when its timeout was read. */
  ownerRevision: number;
  /** The owner's heartbeat timeout (s). */
  timeout: number;
}

/** Entries kept at most: a heartbeat key costs ~300 bytes here; past this the cache starts over. */
const MAX_ENTRIES = 100_000;

const caches = new WeakMap<Ctx, BeatCache>();

/**
 * The registry's cache, on a shared store (etcd) only: SQLite reads cost
 * microseconds, and there every heartbeat is planned from a read as before.
 */
export function beatCacheOf(ctx: Ctx): BeatCache | undefined {
  if (!ctx.store.shared) return undefined;
  let cache = caches.get(ctx);
  if (cache === undefined) caches.set(ctx, (cache = new BeatCache()));
  return cache;
}

export class BeatCache {
  private readonly map = new Map<string, CachedBeat>();

  /**
   * The cached state of `beatKey` when `token` is its current token, taken
   * out (a commit planned from it puts it back with `keep`; a failed one
   * leaves the next plan to read). Undefined otherwise: a token this server
   * did not hand out last goes the read path, which answers replays with 404.
   */
  take(beatKey: string, token: string): CachedBeat | undefined {
    const c = this.map.get(beatKey);
    if (c === undefined || c.beat.token !== token) return undefined;
    this.map.delete(beatKey);
    return c;
  }

  keep(beatKey: string, state: CachedBeat): void {
    if (this.map.size >= MAX_ENTRIES) this.map.clear();
    this.map.set(beatKey, state);
  }
}
