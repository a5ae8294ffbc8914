import type { Logger } from 'pino';
import type { Clock } from '../lib/clock.js';
import type { Store } from '../store/store.js';
import type { Handoff } from './handoff.js';
import type { Hints } from './hints.js';
import type { QueueLimits } from './types.js';
import type { Waiters } from './waiting.js';
import type { KeyedTurns } from './turns.js';

/** What the parts of QueueService share. */
export interface Ctx {
  store: Store;
  clock: Clock;
  limits: QueueLimits;
  log: Logger;
  hints: Hints;
  waiters: Waiters;
  /** Message keys a claim of this process is taking right now: other local claims skip them instead of colliding. */
  reserved: Set<string>;
  /** Claimers waiting on a queue, served by the next post's txn (handoff.ts). */
  handoff: Handoff;
  /** Claim scans of one queue take turns (see claims.ts). */
  scans: KeyedTurns;
  /** Aborts on close(): waiters return, sweeps stop. */
  closing: AbortSignal;
}

/** Attempts at a compare-and-swap before giving up with `unavailable` (each failure means another writer won). */
export const MAX_ATTEMPTS = 32;
