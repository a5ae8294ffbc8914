import { performance } from 'node:perf_hooks';

/**
 * One timer for every probe loop, instead of one per service.
 *
 * What costs an idle agent CPU is not the timers but the wakeups: with 500
 * services probed every 10 s, each on its own timer, the process wakes 50
 * times a second, and on a small VM each wakeup (and the cold caches after
 * it) costs more than the probe's own work. Here a run may start up to its
 * `slackMs` early, together with the runs due at that moment: runs that fall
 * due close together then share one wakeup (and their responses arrive
 * together), while none ever starts late or more than its slack early.
 */

export interface Wakeup {
  /** Cancels the call if it has not happened yet; idempotent. */
  cancel(): void;
}

interface Entry extends Wakeup {
  dueAt: number;
  /** The earliest moment it may run. */
  from: number;
  fn: () => void;
  done: boolean;
}

/** The longest slack the wheel looks ahead for; larger slacks count as this. */
export const MAX_SLACK_MS = 1000;

export class Wakeups {
  /** Pending entries, sorted by dueAt (insertion order among equals). */
  private readonly entries: Entry[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The dueAt the timer is set for. */
  private armedFor = Number.POSITIVE_INFINITY;

  /**
   * Calls `fn` once, `delayMs` from now or up to `slackMs` (at most
   * MAX_SLACK_MS) earlier when the wheel wakes up for another call then. `fn`
   * must not throw. Like the timers it replaces, it does not keep the process alive.
   */
  after(delayMs: number, slackMs: number, fn: () => void): Wakeup {
    const now = performance.now();
    const dueAt = now + Math.max(0, delayMs);
    const entry: Entry = {
      dueAt,
      from: dueAt - Math.min(Math.max(0, slackMs), MAX_SLACK_MS),
      fn,
      done: false,
      cancel: () => this.remove(entry),
    };
    this.entries.splice(this.indexAfter(dueAt), 0, entry);
    if (dueAt < this.armedFor) this.arm(now);
    return entry;
  }

  /** Calls pending: for tests. */
  get size(): number {
    return this.entries.length;
  }

  private remove(entry: Entry): void {
    if (entry.done) return;
    entry.done = true;
    const i = this.entries.indexOf(entry);
    if (i >= 0) this.entries.splice(i, 1);
    // The timer may now be early; when it fires it finds nothing due and re-arms.
    if (this.entries.length === 0) this.disarm();
  }

  /** The index before which an entry due at `dueAt` goes (after its equals). */
  private indexAfter(dueAt: number): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.entries[mid] as Entry).dueAt <= dueAt) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private arm(now: number): void {
    const first = this.entries[0];
    clearTimeout(this.timer);
    if (first === undefined) return this.disarm();
    this.armedFor = first.dueAt;
    this.timer = setTimeout(() => this.fire(), Math.max(0, Math.ceil(first.dueAt - now)));
    this.timer.unref();
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  /** Runs everything that may run now (due, or within its slack), then re-arms for the next. */
  private fire(): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = performance.now();
    const ready: Entry[] = [];
    // Entries are sorted by dueAt; none due later than now + MAX_SLACK_MS may start now.
    // The ones that wait are compacted in place (no splice per entry).
    const list = this.entries;
    let kept = 0;
    let i = 0;
    for (; i < list.length; i++) {
      const e = list[i] as Entry;
      if (e.dueAt > now + MAX_SLACK_MS) break;
      if (e.from <= now) {
        e.done = true;
        ready.push(e);
      } else list[kept++] = e;
    }
    if (kept < i) {
      list.copyWithin(kept, i);
      list.length -= i - kept;
    }
    this.arm(now);
    for (const e of ready) e.fn();
  }
}

/** The process's wheel, shared by every CheckRunner that is not given its own. */
export const sharedWakeups = new Wakeups();
