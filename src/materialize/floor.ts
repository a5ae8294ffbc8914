import type { ServiceView } from './render.js';

/** A services source's floor: the least it may list before its last good list is kept instead. */
export interface FloorSpec {
  /** Fewer services than this: held. */
  min: number | null;
  /** Fewer than this percentage of the reference (the largest good list of the last `windowMs`): held. */
  percent: number | null;
  /** How long a good list counts towards the reference of `percent`. */
  windowMs: number;
}

/** One floor in `/v1/status` (under its file). */
export interface FloorStatus {
  /** The source's name in the file (`services` for an unnamed one). */
  source: string;
  state: 'ok' | 'held';
  /** Services the registry lists now. */
  count: number;
  /** Services of the last good list (what the file shows while held); null before the first good list. */
  kept: number | null;
  /** What `percent` measures against: the largest good list of the window; null before the first good list. */
  reference: number | null;
  min: number | null;
  percent: number | null;
  /** Held since (ms), or null while ok. */
  since: number | null;
}

export type FloorTransition = 'held' | 'released' | null;

/**
 * The floor of one services source, as users of consul-template and confd
 * put it in front of their proxies: a list that suddenly shrinks (a wiped
 * registry, a mass timeout) is far more often an outage of discovery than of
 * the services, and writing it would take every backend out of the proxy at
 * once. A list is good when it has at least `min` services and at least
 * `percent` % of the reference: the largest good list of the last `windowMs`
 * (the last good list always counts). The window matters because a wipe
 * reaches the agent as a stream of events: against the last good list alone,
 * 10 -> 8 -> 6 -> 4 would each pass a 70 % floor. A good list is rendered;
 * otherwise the last good list is rendered as it was (held), until a good
 * list arrives. The size of the last good list is saved in state_dir (see
 * FloorStore) and seeds the floor at the next start: a restarted agent then
 * measures `percent` against it, and while held the file on disk (that last
 * good list, rendered by the previous run) stays as it is. Without a saved
 * size only `min` applies until the first good list.
 */
export class Floor {
  private good: ServiceView[] | null = null;
  /** The last good list's size: the list's, or the one saved by the previous run (seed). */
  private goodCount: number | null = null;
  /** Sizes of recent good lists, oldest first (the reference's window). */
  private recent: Array<{ at: number; count: number }> = [];
  private heldSince: number | null = null;
  private count = 0;

  constructor(readonly spec: FloorSpec) {}

  /** The last good list's size saved by the previous run, before any list of this one. */
  seed(count: number): void {
    if (this.good === null) this.goodCount = count;
  }

  /** The last good list's size (what FloorStore saves), or null before any. */
  get lastGoodCount(): number | null {
    return this.goodCount;
  }

  /** The largest good list of the window (the last one always counts), or null before any. */
  reference(now = Date.now()): number | null {
    if (this.goodCount === null) return null;
    this.recent = this.recent.filter((r) => now - r.at <= this.spec.windowMs);
    return Math.max(this.goodCount, ...this.recent.map((r) => r.count));
  }

  /** Whether `n` services meet the floor. */
  meets(n: number, now = Date.now()): boolean {
    const { min, percent } = this.spec;
    if (min !== null && n < min) return false;
    const ref = this.reference(now);
    if (percent !== null && ref !== null && n * 100 < percent * ref) return false;
    return true;
  }

  /**
   * The list to render for `list` (the registry's now): itself when it meets
   * the floor, else the last good list (null: none yet, keep the file).
   * Returns the transition, for the log and the metric.
   */
  pass(list: ServiceView[], now = Date.now()): { list: ServiceView[] | null; transition: FloorTransition } {
    this.count = list.length;
    if (this.meets(list.length, now)) {
      this.good = list;
      this.goodCount = list.length;
      this.recent.push({ at: now, count: list.length });
      const released = this.heldSince !== null;
      this.heldSince = null;
      return { list, transition: released ? 'released' : null };
    }
    const held = this.heldSince === null;
    this.heldSince ??= now;
    return { list: this.good, transition: held ? 'held' : null };
  }

  status(source: string, now = Date.now()): FloorStatus {
    return {
      source,
      state: this.heldSince === null ? 'ok' : 'held',
      count: this.count,
      kept: this.goodCount,
      reference: this.reference(now),
      min: this.spec.min,
      percent: this.spec.percent,
      since: this.heldSince,
    };
  }
}
