import type { Entry } from '../store/store.js';
import { beatLeaseMs, decode, type BeatRecord, type Ctx } from './context.js';
import { keys } from './keys.js';

/**
 * Whether heartbeat state may still sit at the legacy keys (`t/{t}/h/{id}`,
 * `t/{t}/m/{id}`, keys.ts): during a rolling upgrade over etcd, servers from
 * before session 10 keep writing there. A read of `last_seen` falls back to
 * the legacy key only while this says so, so a cluster whose servers are all
 * new reads nothing more.
 *
 * "May" means a server saw legacy state (at open, in an expiry pass, on a
 * heartbeat or a read) within WINDOW_LEASES beat-lease TTLs. A chain an old
 * server keeps alive comes due in every new server's expiry index at least
 * once per heartbeat timeout (at most 120 s, well inside the window), and
 * expiry reads the legacy keys whatever this says, so a live legacy chain
 * keeps the window open. The last sighting is stored (keys.legacySeen), so a
 * server that starts mid-upgrade knows it from its first request.
 */
const WINDOW_LEASES = 2;

export class LegacyBeats {
  /** Registry time (ms) of the last sighting known here: this server's, or the stored one read at open. */
  private lastSeen = 0;
  /** The sighting last written to the store: rewritten at most every quarter window. */
  private stored = 0;

  constructor(private readonly ctx: Ctx) {}

  private get windowMs(): number {
    return WINDOW_LEASES * beatLeaseMs(this.ctx);
  }

  /** True while legacy heartbeat state may exist: reads fall back to it. */
  get active(): boolean {
    return this.lastSeen !== 0 && this.ctx.clock.now() - this.lastSeen < this.windowMs;
  }

  /** Takes the stored sighting (migrate-beats.ts reads it with the layout mark, in one request). */
  load(entry: Entry | undefined): void {
    const at = entry === undefined ? 0 : Number(entry.value);
    if (Number.isFinite(at) && at > this.lastSeen) this.lastSeen = this.stored = at;
  }

  /**
   * Legacy state was seen now: opens (or keeps open) the window at once, and
   * stores the sighting for servers that start later. Never rejects, so
   * request paths start it without waiting for its etcd write.
   */
  async seen(): Promise<void> {
    const now = this.ctx.clock.now();
    this.lastSeen = Math.max(this.lastSeen, now);
    if (now - this.stored < this.windowMs / 4) return;
    this.stored = now;
    // Best effort: a lost write only leaves a later-starting server to learn of the upgrade from its own expiry pass.
    await this.ctx.store
      .txn([], [{ type: 'put', key: keys.legacySeen, value: String(now) }])
      .catch((err: unknown) => this.ctx.log.warn({ err }, 'could not store when legacy heartbeat state was last seen'));
  }
}

const trackers = new WeakMap<Ctx, LegacyBeats>();

/** The registry's tracker; undefined on a store no other server shares (SQLite has no legacy keys to read). */
export function legacyBeatsOf(ctx: Ctx): LegacyBeats | undefined {
  if (!ctx.store.shared) return undefined;
  let t = trackers.get(ctx);
  if (t === undefined) trackers.set(ctx, (t = new LegacyBeats(ctx)));
  return t;
}

/**
 * The heartbeat state at `beatKey`, or, when it has none and legacy state may
 * exist (a rolling upgrade), at `legacyKey`: what `last_seen` shows.
 */
export async function readBeatState(ctx: Ctx, beatKey: string, legacyKey: string): Promise<BeatRecord | undefined> {
  const beat = decode<BeatRecord>(await ctx.store.get(beatKey));
  if (beat !== undefined) return beat;
  const legacy = legacyBeatsOf(ctx);
  if (legacy?.active !== true) return undefined;
  const old = decode<BeatRecord>(await ctx.store.get(legacyKey));
  // Not awaited: a GET stays at its reads; seen() catches and logs its own failure.
  if (old !== undefined) void legacy.seen();
  return old;
}
