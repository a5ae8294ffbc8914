import { hasCode } from '../lib/errors.js';
import type { Store, WatchEvent } from '../store/store.js';
import { EventHold } from './event-hold.js';

export { EventHold } from './event-hold.js';

/** A fixed abort reason: abort() without one allocates a DOMException each time. */
const CLOSED = Object.freeze({ closed: true });

/**
 * Waits time out on this grid: one interval checks them all (10,000 polls
 * hold no timer each). A wait never ends before its deadline, and up to about
 * two ticks after it: the deadline is rounded up to the next tick, and the
 * interval that sees that tick runs up to one tick later (more when the
 * event loop is busy). Deadlines are wall-clock (Date.now()).
 */
export const WAIT_TICK_MS = 50;

/** One store watch on a tenant's events, shared by every poll of that tenant waiting on this server. */
export interface TenantWatch {
  readonly tenant: string;
  readonly waiters: Set<EventHold>;
  /** The revision the store watch was opened from: changes before it were not seen. */
  readonly start: number;
  /** Highest revision of a change this watch delivered (0: none yet). */
  seen: number;
  readonly stop: AbortController;
}

/**
 * Long-poll waits on the events feed. A waiting poll costs its EventHold
 * (a small record, in two sets) and one promise; no timer, closure or
 * abort listener of its own. The store watch is per tenant, opened by the
 * first waiter and closed when the last one leaves, so 10,000 followers of
 * a tenant hold one watch, not 10,000.
 */
export class EventWaits {
  private readonly tenants = new Map<string, TenantWatch>();
  /** Waiting holds by deadline tick (ms / WAIT_TICK_MS, rounded up). */
  private readonly due = new Map<number, Set<EventHold>>();
  /** The first tick not expired yet. */
  private nextTick = 0;
  private ticker: NodeJS.Timeout | null = null;
  private waiting = 0;

  /**
   * @param stopped aborted when the registry closes: wakes every waiter (one
   *   listener here instead of one per poll); the caller then throws.
   */
  constructor(
    private readonly store: Store,
    private readonly prefixOf: (tenant: string) => string,
    private readonly stopped?: AbortSignal,
  ) {
    stopped?.addEventListener('abort', () => this.wakeAll(), { once: true });
  }

  /** Long-polls waiting now. */
  get size(): number {
    return this.waiting;
  }

  /** Deadline ticks that hold a waiting poll (never more than `size`: a tick is dropped with its last wait). */
  get ticks(): number {
    return this.due.size;
  }

  /**
   * Resolves when an event of `tenant` is committed at or after `from`, after
   * `ms`, or when `by` is aborted. It may also resolve early with nothing new
   * (the watch started after `from`, or history was compacted): re-reading is
   * always safe. `by` is the poll's EventHold (the server's long-polls) or a
   * signal (in-process callers; it costs a listener for the wait).
   */
  wait(tenant: string, from: number, ms: number, by?: EventHold | AbortSignal): Promise<void> {
    if (by?.aborted === true || this.stopped?.aborted === true) return Promise.resolve();
    const tw = this.tenants.get(tenant) ?? this.open(tenant, from);
    if (from < tw.start || tw.seen >= from) return Promise.resolve();
    const hold = by instanceof EventHold ? by : new EventHold();
    if (by !== undefined && !(by instanceof EventHold)) hold.link(by);
    return new Promise<void>((resolve, reject) => {
      hold.enter(this, tw, from, resolve, reject);
      tw.waiters.add(hold);
      this.schedule(hold, Date.now() + ms);
    });
  }

  /** Ends `hold`'s wait (resolved, or rejected with `err`); nothing when it is not waiting. */
  release(hold: EventHold, err?: unknown): void {
    const tw = hold.leave();
    if (tw === null) return;
    tw.waiters.delete(hold);
    if (tw.waiters.size === 0) this.close(tw);
    const set = this.due.get(hold.tick);
    // An emptied tick goes at once: the ticker may stop before it passes, and restarts at "now".
    if (set !== undefined && set.delete(hold) && set.size === 0) this.due.delete(hold.tick);
    if (--this.waiting === 0 && this.ticker !== null) {
      clearInterval(this.ticker);
      this.ticker = null;
    }
    hold.settle(err);
  }

  private schedule(hold: EventHold, deadline: number): void {
    const tick = Math.ceil(deadline / WAIT_TICK_MS);
    hold.tick = tick;
    const set = this.due.get(tick);
    if (set === undefined) this.due.set(tick, new Set([hold]));
    else set.add(hold);
    if (this.waiting++ === 0) {
      this.nextTick = Math.floor(Date.now() / WAIT_TICK_MS);
      this.ticker = setInterval(() => this.expire(), WAIT_TICK_MS);
      // Waits never keep the process alive on their own (as their timers did not block close()).
      this.ticker.unref();
    }
  }

  /** Ends the waits whose tick has come (every tick since the last run: a late run catches up). */
  private expire(): void {
    const now = Math.floor(Date.now() / WAIT_TICK_MS);
    for (; this.nextTick <= now; this.nextTick++) {
      const set = this.due.get(this.nextTick);
      if (set === undefined) continue;
      this.due.delete(this.nextTick);
      for (const hold of set) this.release(hold);
    }
  }

  /** Opens the tenant's watch from `from` (history since `from` is delivered at once). */
  private open(tenant: string, from: number): TenantWatch {
    const tw: TenantWatch = { tenant, waiters: new Set(), start: from, seen: 0, stop: new AbortController() };
    this.tenants.set(tenant, tw);
    this.store.watch(this.prefixOf(tenant), from, (events) => this.deliver(tw, events), tw.stop.signal).catch((err: unknown) => {
      this.close(tw);
      // History trimmed under us: every waiter re-reads. Anything else (store closed) fails them.
      const failure = hasCode(err, 'store.compacted') ? undefined : err;
      for (const hold of tw.waiters) this.release(hold, failure);
    });
    return tw;
  }

  private deliver(tw: TenantWatch, events: WatchEvent[]): void {
    // An empty batch means the store lost track of changes: everyone re-reads.
    let revision = Number.MAX_SAFE_INTEGER;
    if (events.length > 0) {
      revision = 0;
      for (const e of events) if (e.revision > revision) revision = e.revision;
      if (revision > tw.seen) tw.seen = revision;
    }
    // All in this turn: each reply is written as its poll resumes. (Waking in slices of 500 with setImmediate
    // between cost the same CPU and made p50 and p99 worse: between slices the server took the early followers'
    // next polls before the later replies; see bench/README.md, Followers.)
    for (const hold of tw.waiters) if (hold.from <= revision) this.release(hold);
  }

  private wakeAll(): void {
    for (const tw of [...this.tenants.values()]) for (const hold of tw.waiters) this.release(hold);
  }

  private close(tw: TenantWatch): void {
    if (this.tenants.get(tw.tenant) === tw) this.tenants.delete(tw.tenant);
    tw.stop.abort(CLOSED);
  }
}
