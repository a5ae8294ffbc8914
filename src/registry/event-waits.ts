import { hasCode } from '../lib/errors.js';
import type { Store, WatchEvent } from '../store/store.js';
import { EventHold, type Waker } from './event-hold.js';

export { EventHold, type Waker } from './event-hold.js';

/** A fixed abort reason: abort() without one allocates a DOMException each time. */
const CLOSED = Object.freeze({ closed: true });

/**
 * Waits time out on this grid: a wait's deadline is rounded up to the next
 * tick, and one timer, armed for the earliest tick that holds a wait, ends
 * every wait of that tick (10,000 polls hold no timer each). A wait never
 * ends before its deadline, and about a tick after it at most (more when the
 * event loop is busy). Deadlines are wall-clock (Date.now()).
 */
export const WAIT_TICK_MS = 5;

/**
 * Polls a change wakes at once; any more wait for one immediate. Bounds what
 * the change's writer waits for on SQLite to this many replies, not the whole
 * fan-out (bench/lib/follower-heap.ts prints when the PUT was answered).
 */
export const WAKE_FIRST = 64;

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
  /** The ticks of `due` (and ticks emptied since, skipped when met), earliest first. */
  private readonly ticksDue = new TickHeap();
  /** The one timer, and the tick it is armed for. */
  private timer: NodeJS.Timeout | null = null;
  private timerTick = 0;
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
    return new Promise<void>((resolve, reject) => this.park(tenant, from, ms, by, { woke: (err) => (err === undefined ? resolve() : reject(err)) }));
  }

  /**
   * wait(), telling `waker` instead of settling a promise: a parked poll
   * (events.ts) holds no promise, closure or suspended frame of its own while
   * it waits. `waker.woke()` is always called in a later microtask.
   */
  park(tenant: string, from: number, ms: number, by: EventHold | AbortSignal | undefined, waker: Waker): void {
    if (by?.aborted === true || this.stopped?.aborted === true) return queueMicrotask(() => waker.woke());
    const tw = this.tenants.get(tenant) ?? this.open(tenant, from);
    if (from < tw.start || tw.seen >= from) return queueMicrotask(() => waker.woke());
    const hold = by instanceof EventHold ? by : new EventHold();
    if (by !== undefined && !(by instanceof EventHold)) hold.link(by);
    hold.enter(this, tw, from, waker);
    tw.waiters.add(hold);
    this.schedule(hold, Date.now() + ms);
  }

  /** Ends `hold`'s wait (resolved, or rejected with `err`); nothing when it is not waiting. */
  release(hold: EventHold, err?: unknown): void {
    const tw = hold.leave();
    if (tw === null) return;
    tw.waiters.delete(hold);
    if (tw.waiters.size === 0) this.close(tw);
    const set = this.due.get(hold.tick);
    // An emptied tick goes at once (its heap entry is skipped when met).
    if (set !== undefined && set.delete(hold) && set.size === 0) this.due.delete(hold.tick);
    if (--this.waiting === 0) this.disarm();
    hold.settle(err);
  }

  private schedule(hold: EventHold, deadline: number): void {
    const tick = Math.ceil(deadline / WAIT_TICK_MS);
    hold.tick = tick;
    this.waiting++;
    const set = this.due.get(tick);
    if (set !== undefined) {
      set.add(hold);
      return;
    }
    this.due.set(tick, new Set([hold]));
    this.ticksDue.push(tick);
    if (this.timer === null || tick < this.timerTick) this.arm(tick);
  }

  /** (Re)arms the one timer for `tick`. */
  private arm(tick: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerTick = tick;
    this.timer = setTimeout(() => this.expire(), Math.max(0, tick * WAIT_TICK_MS - Date.now()));
    // Waits never keep the process alive on their own (as their timers did not block close()).
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.ticksDue.clear();
  }

  /** Ends the waits whose tick has come (every one up to now: a late run catches up), then arms for the next. */
  private expire(): void {
    this.timer = null;
    const now = Date.now();
    for (let tick = this.ticksDue.peek(); tick !== undefined; tick = this.ticksDue.peek()) {
      const set = this.due.get(tick);
      if (set !== undefined && tick * WAIT_TICK_MS > now) {
        // Not due yet (the timer ran early by the wall clock, or this is the next one).
        if (this.timer === null) this.arm(tick);
        return;
      }
      this.ticksDue.pop();
      if (set === undefined) continue;
      this.due.delete(tick);
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
    // Each reply is written as its poll resumes. The first WAKE_FIRST now, the rest in one immediate: on SQLite
    // the writer's reply goes out between the two (sqlite-commit-queue.ts settles it after the flush's
    // microtasks), not behind the whole fan-out. Only one split: waking in slices of 500 with setImmediate
    // between cost the same CPU and made p50 and p99 worse, because between slices the server took the early
    // followers' next polls before the later replies (bench/README.md, Followers).
    let woken = 0;
    for (const hold of tw.waiters) {
      if (hold.from > revision) continue;
      if (woken++ === WAKE_FIRST) {
        setImmediate(() => this.wakeRest(tw, revision));
        return;
      }
      this.release(hold);
    }
  }

  /** The rest of a wake: every hold still waiting on `tw` for a change up to `revision`. */
  private wakeRest(tw: TenantWatch, revision: number): void {
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

/** A binary min-heap of ticks. */
class TickHeap {
  private readonly a: number[] = [];

  peek(): number | undefined {
    return this.a[0];
  }

  clear(): void {
    this.a.length = 0;
  }

  push(t: number): void {
    const a = this.a;
    let i = a.push(t) - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if ((a[up] as number) <= t) break;
      a[i] = a[up] as number;
      i = up;
    }
    a[i] = t;
  }

  pop(): number | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const c = l + 1 < a.length && (a[l + 1] as number) < (a[l] as number) ? l + 1 : l;
      if ((a[c] as number) >= last) break;
      a[i] = a[c] as number;
      i = c;
    }
    a[i] = last;
    return top;
  }
}
