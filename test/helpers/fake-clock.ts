import type { Clock } from '../../src/lib/clock.js';

/**
 * A clock tests move by hand, so time-based behaviour (heartbeat deadlines,
 * expiry, the one-hour events window) is checked without sleeping.
 * Starts at the real time so ids and markers look like real ones.
 */
export class FakeClock implements Clock {
  private ms: number;

  constructor(startMs: number = Date.now()) {
    this.ms = startMs;
  }

  /** Milliseconds since the Unix epoch, as set or advanced by the test. */
  now(): number {
    return this.ms;
  }

  /** Moves time forward by `ms` (must be >= 0: a clock never steps back here). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`FakeClock.advance: ${ms} is not a non-negative duration`);
    this.ms += ms;
  }

  /** Sets the time to `ms` since the epoch. */
  set(ms: number): void {
    this.ms = ms;
  }
}
