import { hasCode } from '../lib/errors.js';

/**
 * Pause before a long-poll reads again after a transient store fault. A
 * page read is shared by every poll that asks the same (events.ts
 * readShared), so one slow etcd request (past the store's 2 s deadline, at
 * load) used to answer all of them 503 at once, and a fleet of followers
 * re-polled together. A poll with time left in its wait reads again instead,
 * and answers the fault only when its wait is over.
 */
export const FAULT_RETRY_MS = 250;

/** True when `err` is a transient store fault and the poll's wait (ending at `until`, Date.now() ms) outlasts another pause. */
export function mayRetryRead(err: unknown, until: number): boolean {
  return hasCode(err, 'store.unavailable') && until - Date.now() > FAULT_RETRY_MS;
}

/**
 * One pause shared by every poll that failed at about the same time: one
 * timer instead of one per poll, and they read again together, so the next
 * read is shared too.
 */
export class SharedPause {
  private pending: Promise<void> | null = null;

  wait(): Promise<void> {
    this.pending ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.pending = null;
        resolve();
      }, FAULT_RETRY_MS);
      // Never keeps a closing process alive by itself.
      timer.unref();
    });
    return this.pending;
  }
}
