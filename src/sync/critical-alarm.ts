import type { LocalService } from './local-state.js';
import { nextCriticalDeadline } from './reconcile.js';

/**
 * Wakes the syncer at the next deregister_critical_after deadline (a timer,
 * not a poll: nothing else would wake it). Deadlines are taken from after
 * the time the last pass decided as of, not from now: a timer that fired a
 * moment early, or a deadline that fell while the pass ran, still gets its
 * pass (at once, then).
 */
export class CriticalAlarm {
  private timer: NodeJS.Timeout | undefined;
  private lastPassAt = 0;

  constructor(private readonly wake: () => void) {}

  /** A pass is deciding as of `now`. */
  passing(now: number): void {
    this.lastPassAt = now;
  }

  /** After a pass: set for the next deadline still to be applied, if any. */
  arm(services: Iterable<LocalService>): void {
    clearTimeout(this.timer);
    const next = nextCriticalDeadline(services, this.lastPassAt);
    if (next === null) return;
    this.timer = setTimeout(this.wake, Math.max(0, next - Date.now()));
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
