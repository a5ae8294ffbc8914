import type { AccountRecord } from './context.js';
import type { EventHold, Waker } from './event-hold.js';
import type { EventType, Page, RegistryEvent } from './types.js';

/**
 * Where a call of the events feed is answered: its page, or why it failed
 * (once). `Events.list` makes one of its promise; the server's long-poll is
 * one itself (Registry.pollEvents), so a waiting call holds no promise.
 */
export interface EventAnswer {
  resolve(page: Page<RegistryEvent>): void;
  reject(err: unknown): void;
}

/** What a parked poll's wake goes back to (Events). */
export interface PollOwner {
  resume(poll: EventPoll, err: unknown): void;
}

/**
 * One call of the events feed between its looks: what it asked, and where
 * it is answered. While it waits for a change, this record (with
 * its EventHold) is all the call holds: no suspended async frame (~0.45 KB
 * of generator, registers and context per waiting poll at 10,000
 * followers), no promise of the wait and no closure for its wake. The wake
 * calls `woke`, which hands the poll back to its owner to look again.
 */
export class EventPoll implements Waker {
  constructor(
    private readonly owner: PollOwner,
    readonly tenant: string,
    readonly account: AccountRecord,
    readonly marker: string | null,
    readonly type: EventType | null,
    readonly limit: number,
    /** When its wait is over, Date.now() ms (real time: it bounds how long a request is held). */
    readonly until: number,
    /** A server's long-poll: ended by the server. */
    readonly hold: EventHold | undefined,
    /** An in-process caller's. */
    readonly signal: AbortSignal | undefined,
    readonly answer: EventAnswer,
  ) {}

  woke(err?: unknown): void {
    this.owner.resume(this, err);
  }
}
