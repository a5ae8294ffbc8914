import type { EventWaits, TenantWatch } from './event-waits.js';

/** Told when a wait ends: `err` undefined when woken (a change, the deadline, an abort), else why it failed. */
export interface Waker {
  woke(err?: unknown): void;
}

/**
 * A long-poll's hold on the events feed: all the server keeps for one
 * waiting `GET /events?wait=` besides Node's request objects. Whoever owns
 * the request ends it early with `abort(reason)` (the client left, the
 * server is closing): the wait is released at once and the call throws
 * `reason`. It has the part of an AbortController the server uses for any
 * long-poll (`abort`, `signal.aborted`, `signal.reason`) without the
 * EventTarget, listener and timer an AbortSignal per poll cost (10,000
 * followers made 10,000 of them per wake).
 */
export class EventHold {
  aborted = false;
  reason: unknown = undefined;
  /** While waiting: the revision that wakes it. */
  from = 0;
  /** While waiting: its deadline tick (EventWaits' timeout grid). */
  tick = 0;
  /** The tenant watch it waits on; null when not waiting. */
  watch: TenantWatch | null = null;
  private waits: EventWaits | null = null;
  private waker: Waker | null = null;
  private unlink: (() => void) | null = null;

  /** The AbortController shape: the hold is its own signal. */
  get signal(): this {
    return this;
  }

  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.waits?.release(this);
  }

  /** Aborts this hold with `signal` (an in-process caller's signal), until the wait ends. */
  link(signal: AbortSignal): void {
    const onAbort = (): void => this.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    this.unlink = () => signal.removeEventListener('abort', onAbort);
  }

  /** Starts a wait (EventWaits only). */
  enter(waits: EventWaits, watch: TenantWatch, from: number, waker: Waker): void {
    this.waits = waits;
    this.watch = watch;
    this.from = from;
    this.waker = waker;
  }

  /** Stops waiting (EventWaits only): the watch it waited on, or null when it was not waiting. */
  leave(): TenantWatch | null {
    const watch = this.watch;
    if (watch === null) return null;
    this.watch = null;
    this.waits = null;
    this.unlink?.();
    this.unlink = null;
    return watch;
  }

  /**
   * Tells the waker, with `err` when the wait failed (EventWaits only, after
   * leave()). In a microtask, as a settled promise would: a waker that looks
   * again never runs inside EventWaits' loop over the waiting holds.
   */
  settle(err?: unknown): void {
    const waker = this.waker;
    this.waker = null;
    if (waker !== null) queueMicrotask(() => waker.woke(err));
  }
}
