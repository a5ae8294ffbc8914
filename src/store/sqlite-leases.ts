import { TetherError } from '../lib/errors.js';
import { processStallClock } from '../lib/stall-clock.js';

/**
 * The SQLite store's leases: in memory only (heartbeats never touch the
 * disk), deadlines on the monotonic clock, one unref'd timer for all of them.
 * Ids embed a persisted per-open epoch so an id from before a restart is
 * never granted again.
 */

/** Lease ids per process start; the persisted epoch fills the high part. */
const LEASE_SPAN = 2 ** 32;
const MAX_LEASE_EPOCH = Math.floor(Number.MAX_SAFE_INTEGER / LEASE_SPAN) - 1;
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Monotonic milliseconds that stand still while the process is stalled
 * (SIGSTOP, a frozen VM): lease deadlines must not move with the wall clock,
 * and a stall must not expire what nobody could keep alive during it.
 */
const monotonicNow = (): number => processStallClock().runningNow();

export interface Lease {
  id: number;
  /** The TTL it was granted with; each keepAlive renews it for this long. */
  ttlMs: number;
  /** Monotonic ms after which the lease is expired. */
  deadline: number;
  /** Deadline of this lease's live entry in the heap (others are stale). */
  queuedAt: number;
  /** The keys bound to it (maintained by the store). */
  keys: Set<string>;
}

interface Deadline {
  at: number;
  id: number;
}

/**
 * Min-heap of lease deadlines behind a single timer. keepAlive only moves
 * `lease.deadline` later (O(1), no heap work); when the old entry surfaces it
 * is re-queued at the new deadline. So the heap holds about one entry per
 * lease, even at 15,000 keep-alives per second.
 */
class DeadlineHeap {
  private readonly items: Deadline[] = [];

  peek(): Deadline | undefined {
    return this.items[0];
  }

  push(item: Deadline): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]!.at <= item.at) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = item;
  }

  /** Removes and returns the earliest deadline. */
  pop(): Deadline | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const c = l + 1 < a.length && a[l + 1]!.at < a[l]!.at ? l + 1 : l;
      if (a[c]!.at >= last.at) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
    return top;
  }

  clear(): void {
    this.items.length = 0;
  }
}

/** Where the lease epoch is persisted (the store's meta table). */
export interface EpochStore {
  get(): number | undefined;
  set(epoch: number): void;
}

/**
 * Live leases. `onExpire` is called (synchronously, from the timer or from
 * `live()`) once a lease is past its deadline and has been forgotten; the
 * store deletes its keys there.
 */
export class LeaseTable {
  private readonly leases = new Map<number, Lease>();
  private readonly deadlines = new DeadlineHeap();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private leaseBase = 0;
  private leaseSeq = 0;
  private stopped = false;

  constructor(
    private readonly epoch: EpochStore,
    private readonly onExpire: (lease: Lease) => void,
  ) {
    this.startEpoch();
  }

  /** Grants a lease expiring `ttlMs` from now; `store.invalid` for a bad TTL. */
  grant(ttlMs: number): number {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
      throw new TetherError('store.invalid', `lease TTL must be a positive number of ms, got ${ttlMs}`);
    }
    const id = this.nextId();
    const deadline = monotonicNow() + ttlMs;
    this.leases.set(id, { id, ttlMs, deadline, queuedAt: deadline, keys: new Set() });
    this.queueDeadline(id, deadline);
    return id;
  }

  /** Pushes the lease's expiry to its TTL from now; false when it is expired or unknown. */
  keepAlive(id: number): boolean {
    const l = this.live(id);
    if (l === undefined) return false;
    l.deadline = monotonicNow() + l.ttlMs;
    if (l.deadline < l.queuedAt) {
      l.queuedAt = l.deadline;
      this.queueDeadline(l.id, l.deadline);
    }
    return true;
  }

  /** The lease, whether or not it is overdue (for keys already bound to it). */
  get(id: number): Lease | undefined {
    return this.leases.get(id);
  }

  has(id: number): boolean {
    return this.leases.has(id);
  }

  /** Returns the lease if it is alive; expires it first when its deadline has passed. */
  live(id: number): Lease | undefined {
    const l = this.leases.get(id);
    if (l === undefined || l.deadline > monotonicNow()) return l;
    this.end(l);
    return undefined;
  }

  /** Forgets the lease and hands it to `onExpire` (revoke and expiry alike). */
  end(l: Lease): void {
    this.leases.delete(l.id);
    this.onExpire(l);
  }

  /** Stops the timer and forgets every lease (without calling `onExpire`). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.deadlines.clear();
    this.leases.clear();
  }

  private queueDeadline(id: number, at: number): void {
    this.deadlines.push({ at, id });
    this.armTimer();
  }

  /** Keeps one unref'd timer armed for the earliest queued deadline. */
  private armTimer(): void {
    const top = this.deadlines.peek();
    if (top === undefined || (this.timer !== undefined && this.timerAt <= top.at)) return;
    clearTimeout(this.timer);
    this.timerAt = top.at;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(top.at - monotonicNow())));
    this.timer = setTimeout(() => this.onTimer(), delay);
    this.timer.unref();
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.stopped) return;
    const now = monotonicNow();
    for (let top = this.deadlines.peek(); top !== undefined && top.at <= now; top = this.deadlines.peek()) {
      this.deadlines.pop();
      this.settleDeadline(top, now);
    }
    this.armTimer();
  }

  /** Expires the lease of a due heap entry, or re-queues it if it was kept alive. */
  private settleDeadline(entry: Deadline, now: number): void {
    const l = this.leases.get(entry.id);
    if (l === undefined || l.queuedAt !== entry.at) return;
    if (l.deadline > now) {
      l.queuedAt = l.deadline;
      this.deadlines.push({ at: l.deadline, id: l.id });
      return;
    }
    try {
      this.end(l);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  /** Bumps the persisted lease epoch so ids never repeat across opens. */
  private startEpoch(): void {
    const epoch = ((this.epoch.get() ?? 0) % MAX_LEASE_EPOCH) + 1;
    this.epoch.set(epoch);
    this.leaseBase = epoch * LEASE_SPAN;
    this.leaseSeq = 0;
  }

  private nextId(): number {
    this.leaseSeq += 1;
    if (this.leaseSeq >= LEASE_SPAN) {
      this.startEpoch();
      this.leaseSeq = 1;
    }
    return this.leaseBase + this.leaseSeq;
  }
}
