/**
 * Stalls of this process: SIGSTOP, a frozen VM, a long GC pause, a blocked
 * event loop. While stalled, the process hears no heartbeat, so a deadline
 * must not run out during one: deadlines are judged against the time the
 * process could hear (the rule of issue 19 item 4, in the README).
 *
 * Detection: an unref'd interval ticks every `tickMs`; a gap between ticks
 * (or between a tick and an `observe()`) longer than `tickMs + thresholdMs`
 * is a stall of `gap - tickMs`. Whoever judges a deadline calls `observe()`
 * first, so the sweep that happens to run first after a resume already knows.
 */

export interface Stall {
  /** Wall-clock ms when the stall was noticed (its end). */
  endedAt: number;
  /** How long it lasted, ms. */
  ms: number;
}

export interface StallClockOptions {
  tickMs?: number;
  /** Lateness of a tick that counts as a stall; shorter hiccups are ordinary load. */
  thresholdMs?: number;
  /** How long a stall is remembered (deadlines set before then have long been judged). */
  keepMs?: number;
}

const MAX_KEPT = 1000;

export class StallClock {
  private readonly tickMs: number;
  private readonly thresholdMs: number;
  private readonly keepMs: number;
  private readonly stalls: Stall[] = [];
  private last = performance.now();
  private stalledTotal = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: StallClockOptions = {}) {
    this.tickMs = opts.tickMs ?? 250;
    this.thresholdMs = opts.thresholdMs ?? 1000;
    this.keepMs = opts.keepMs ?? 3_600_000;
  }

  /** Starts ticking (idempotent). The timer is unref'd: it never keeps the process alive. */
  start(): this {
    if (this.timer === undefined) {
      this.last = performance.now();
      this.timer = setInterval(() => this.observe(), this.tickMs);
      this.timer.unref();
    }
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Records a stall that just ended, if the gap since the last look says so. Cheap: call it before judging deadlines. */
  observe(): void {
    const now = performance.now();
    const gap = now - this.last;
    this.last = now;
    if (this.timer === undefined || gap <= this.tickMs + this.thresholdMs) return;
    const ms = gap - this.tickMs;
    this.stalledTotal += ms;
    const endedAt = Date.now();
    this.stalls.push({ endedAt, ms });
    while (this.stalls.length > MAX_KEPT || (this.stalls.length > 0 && (this.stalls[0] as Stall).endedAt < endedAt - this.keepMs)) this.stalls.shift();
  }

  /**
   * Stalled ms after wall time `since` (when a deadline was last set by a
   * heartbeat heard, or a creation): what that deadline is extended by.
   */
  creditSince(since: number): number {
    this.observe();
    let credit = 0;
    for (let i = this.stalls.length - 1; i >= 0; i--) {
      const s = this.stalls[i] as Stall;
      if (s.endedAt <= since) break;
      credit += Math.min(s.ms, s.endedAt - since);
    }
    return credit;
  }

  /** Monotonic ms that do not advance while the process is stalled: for in-memory lease deadlines. */
  runningNow(): number {
    this.observe();
    return performance.now() - this.stalledTotal;
  }

  /** True when a stall ended less than `ms` ago (noticing one that ends right now). */
  stalledWithin(ms: number): boolean {
    this.observe();
    const last = this.stalls[this.stalls.length - 1];
    return last !== undefined && Date.now() - last.endedAt < ms;
  }

  /** Milliseconds stalled since the clock started. */
  stalledMs(): number {
    this.observe();
    return this.stalledTotal;
  }

  /** The stalls remembered, oldest first (for logs and tests). */
  recent(): readonly Stall[] {
    return this.stalls;
  }
}

let shared: StallClock | undefined;

/** The process's one stall clock, started on first use. */
export function processStallClock(): StallClock {
  return (shared ??= new StallClock().start());
}
