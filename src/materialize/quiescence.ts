import { performance } from 'node:perf_hooks';

/**
 * consul-template's min/max wait: a burst of changes makes one render, after
 * `minMs` of calm, but a steady stream of changes cannot postpone it for
 * more than `maxMs`.
 */

/** The time seam (tests inject a fake one). Delays of 0 mean "on the next turn of the event loop". */
export interface QuiescenceTimers {
  /** Monotonic milliseconds. */
  now(): number;
  /** Calls `fn` after `ms`; returns a cancel function. Must not keep the process alive. */
  schedule(fn: () => void, ms: number): () => void;
}

/** Unref'd timers on the monotonic clock; a delay of 0 is a setImmediate, so a synchronous burst fires once. */
export const systemTimers: QuiescenceTimers = {
  now: () => performance.now(),
  schedule(fn, ms) {
    if (ms <= 0) {
      const handle = setImmediate(fn).unref();
      return () => clearImmediate(handle);
    }
    const handle = setTimeout(fn, ms).unref();
    return () => clearTimeout(handle);
  },
};

export interface QuiescenceOptions {
  /** Calm needed after the last poke, ms (>= 0). */
  minMs: number;
  /** Longest delay after the first poke of a burst, ms; raised to `minMs` when smaller. */
  maxMs: number;
  /** Called once per burst, from a timer (or from flush()). State is reset before it runs, so it may poke. */
  onFire: () => void;
  timers?: QuiescenceTimers | undefined;
}

/**
 * One debouncer. A single timer is armed per burst and re-armed only when it
 * wakes before the deadline (pokes just move `last`), so a poke costs a
 * clock read, not a timer.
 */
export class Quiescence {
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly timers: QuiescenceTimers;
  /** When the current burst began and last moved; null when idle. */
  private first: number | null = null;
  private last = 0;
  private cancelTimer: (() => void) | null = null;

  constructor(private readonly opts: QuiescenceOptions) {
    if (!(opts.minMs >= 0) || !(opts.maxMs >= 0)) {
      throw new RangeError(`quiescence: min ${opts.minMs} / max ${opts.maxMs} must be non-negative ms`);
    }
    this.minMs = opts.minMs;
    this.maxMs = Math.max(opts.minMs, opts.maxMs);
    this.timers = opts.timers ?? systemTimers;
  }

  /** True while a fire is scheduled. */
  get pending(): boolean {
    return this.first !== null;
  }

  /** Records a change: fires `minMs` after the last poke, at most `maxMs` after the first of the burst. */
  poke(): void {
    const now = this.timers.now();
    if (this.first === null) this.first = now;
    this.last = now;
    // The timer only ever needs to move later, except when none is armed.
    if (this.cancelTimer === null) this.arm(now);
  }

  /** Fires now if a fire is pending; otherwise does nothing. */
  flush(): void {
    if (this.first === null) return;
    this.reset();
    this.opts.onFire();
  }

  /** Forgets the pending burst without firing. */
  cancel(): void {
    this.reset();
  }

  private due(): number {
    return Math.min((this.first ?? this.last) + this.maxMs, this.last + this.minMs);
  }

  private arm(now: number): void {
    this.cancelTimer = this.timers.schedule(() => this.wake(), Math.max(0, Math.ceil(this.due() - now)));
  }

  private wake(): void {
    this.cancelTimer = null;
    if (this.first === null) return;
    const now = this.timers.now();
    // Pokes since arming moved the deadline; sleep again until it. Node's
    // timers count whole, cached loop ms, so one may also wake up to ~1 ms
    // early against performance.now(): never fire before the deadline.
    if (now < this.due()) return this.arm(now);
    this.reset();
    this.opts.onFire();
  }

  private reset(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
    this.first = null;
  }
}
