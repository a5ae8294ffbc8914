import { getMaxListeners, setMaxListeners } from 'node:events';
import { Backoff, sleep } from '../lib/backoff.js';
import { TetherError } from '../lib/errors.js';
import { isQueueFault } from '../queues/faults.js';
import type { Queues } from '../queues/queues.js';
import type { Claim, Message, Project } from '../queues/types.js';
import { isPermanent } from './queues-retry.js';

/** Resolves = handled (the message is deleted); rejects = failed (the message is released and redelivered). */
export type MessageHandler = (message: Message, ctx: MessageContext) => Promise<void> | void;

/** What a handler gets beside the message. */
export interface MessageContext {
  claimId: string;
  /**
   * Aborts when the consumer is stopped or the claim is lost: renewal found
   * it gone, or no renewal got through for the claim's ttl less a margin
   * (the local lease, see `leaseMarginMs`). Stop early if you can.
   */
  signal: AbortSignal;
}

export interface ClaimCounts {
  handled: number;
  failed: number;
}

/** What working one claim needs (consume() builds it once). */
export interface ClaimWork {
  queues: Queues;
  project: Project;
  queue: string;
  handler: MessageHandler;
  signal: AbortSignal;
  ttl: number;
  concurrency: number;
  renewEveryMs: number;
  report: (err: unknown) => void;
  /** Called as each message's handler settles (consume's pipeline frees a slot). */
  onSettled?: (() => void) | undefined;
}

/** Tries of a DELETE that failed but may succeed again (503, timeout), while the claim is held. */
const DELETE_TRIES = 8;

/**
 * How long before the claim's server-side expiry the consumer gives it up
 * without hearing from the server: 10 % of the ttl, at least a second (at
 * most half the ttl). Another consumer can claim the message only after the
 * expiry, so the two actions never overlap unless the clocks of this host
 * and the server drift apart by more than this within one ttl.
 */
export function leaseMarginMs(ttlSec: number): number {
  return Math.min(Math.max(1000, ttlSec * 100), ttlSec * 500);
}

/**
 * One claim, as steps: a local lease and renewals in the background, the
 * handlers, the deletes (retried while the claim is held), then a release of
 * what is left unless the claim was lost. `claimedAt` is when the claim's
 * reply came; the server made the claim just before (the margin covers the
 * reply's trip), and each renewal counts from when it was sent.
 */
export async function workClaim(w: ClaimWork, claim: Claim, claimedAt: number): Promise<ClaimCounts> {
  // Aborts the handlers on a stop or when the claim is lost; the listener goes in `finally`.
  const claimAc = new AbortController();
  // Each running handler (an action) listens on it: up to one claim's messages at once, more than Node's default 10.
  setMaxListeners(Math.max(getMaxListeners(claimAc.signal), claim.messages.length + 10), claimAc.signal);
  const lost = new AbortController();
  lost.signal.addEventListener('abort', () => claimAc.abort(lost.signal.reason), { once: true });
  const onStop = (): void => claimAc.abort(w.signal.reason);
  // Stopped while the claim was on its way back: start nothing, release it all.
  if (w.signal.aborted) onStop();
  else w.signal.addEventListener('abort', onStop, { once: true });
  const renewing = new AbortController();
  const renewal = renewWhileRunning(w, claim.id, claimedAt, renewing.signal, lost);
  try {
    const counts = await runHandlers(w, claim, claimAc.signal, lost.signal);
    renewing.abort();
    await renewal;
    if ((counts.failed > 0 || counts.unstarted > 0) && !lost.signal.aborted) await release(w, claim.id);
    return { handled: counts.handled, failed: counts.failed };
  } finally {
    renewing.abort();
    await renewal;
    w.signal.removeEventListener('abort', onStop);
  }
}

/** Runs the claim's messages through the handler, `concurrency` at a time; stops starting new ones on abort. */
async function runHandlers(w: ClaimWork, claim: Claim, signal: AbortSignal, lost: AbortSignal): Promise<ClaimCounts & { unstarted: number }> {
  const counts = { handled: 0, failed: 0, unstarted: 0 };
  const deletes: Array<Promise<void>> = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < claim.messages.length && !signal.aborted) {
      const message = claim.messages[next++] as Message;
      try {
        await w.handler(message, { claimId: claim.id, signal });
      } catch (err) {
        counts.failed += 1;
        w.report(new TetherError('queues.handlerFailed', `handler failed for message ${message.id}`, { cause: err }));
        continue;
      } finally {
        w.onSettled?.();
      }
      counts.handled += 1;
      // Not awaited here: the next handler starts while the delete is on the
      // wire, and the deletes of one batch can share the server's commit.
      // Retried until the claim is lost, not stopped: a stop must not leave a handled message to be redelivered.
      deletes.push(deleteHandled(w, message.id, claim.id, lost));
    }
  };
  await Promise.all(Array.from({ length: Math.min(w.concurrency, claim.messages.length) }, worker));
  // Settled before the claim is released or the next one taken (renewal goes on meanwhile).
  await Promise.all(deletes);
  counts.unstarted = claim.messages.length - next;
  for (let i = 0; i < counts.unstarted; i++) w.onSettled?.();
  return counts;
}

/**
 * DELETE is idempotent: a 503 or a timeout is tried again with backoff while
 * the claim is held, so one failed delete does not run a handled message
 * again. A permanent fault (403: the message is no longer in this claim)
 * or the claim's loss ends it.
 */
async function deleteHandled(w: ClaimWork, id: string, claimId: string, lost: AbortSignal): Promise<void> {
  const backoff = new Backoff({ initialMs: 200, maxMs: 5000, jitter: 0.5 });
  for (let i = 1; ; i++) {
    try {
      // No signal: even past a lost claim, one try is right (the server refuses it if another claim holds the message).
      await w.queues.deleteMessage(w.project, w.queue, id, claimId);
      return;
    } catch (err) {
      w.report(err);
      if (lost.aborted || isPermanent(err) || i >= DELETE_TRIES) return;
    }
    await sleep(backoff.next(), lost);
    if (lost.aborted) return;
  }
}

/**
 * Renews every `renewEveryMs` until `stop` aborts. The claim is lost (and
 * `lost` aborted, which aborts the handlers) when a renewal finds it gone
 * (notFound), or when no renewal got through for ttl less the margin: the
 * server may have let it expire and handed the messages to another
 * consumer, without any reply reaching us (a partition, 503s, DNS). Other
 * failures are reported and retried at the next tick.
 */
async function renewWhileRunning(w: ClaimWork, claimId: string, claimedAt: number, stop: AbortSignal, lost: AbortController): Promise<void> {
  const validMs = w.ttl * 1000 - leaseMarginMs(w.ttl);
  let lease: NodeJS.Timeout | undefined;
  const arm = (from: number): void => {
    clearTimeout(lease);
    lease = setTimeout(() => lose(`claim ${claimId}: no renewal got through within its ttl (${w.ttl} s)`), Math.max(0, from + validMs - Date.now()));
  };
  const lose = (why: string): void => {
    clearTimeout(lease);
    if (!lost.signal.aborted) lost.abort(new TetherError('queues.claimLost', why));
  };
  arm(claimedAt);
  const ended = AbortSignal.any([stop, lost.signal]);
  try {
    for (;;) {
      await sleep(w.renewEveryMs, ended);
      if (ended.aborted) return;
      const sentAt = Date.now();
      try {
        await w.queues.renewClaim(w.project, w.queue, claimId, { ttl: w.ttl }, ended);
        arm(sentAt);
      } catch (err) {
        if (ended.aborted) return;
        w.report(err);
        if (isQueueFault(err, 'notFound')) return lose(`claim ${claimId} expired before it could be renewed`);
      }
    }
  } finally {
    clearTimeout(lease);
  }
}

async function release(w: ClaimWork, claimId: string): Promise<void> {
  // No signal: the release is what a stop owes the other consumers.
  await w.queues.releaseClaim(w.project, w.queue, claimId).catch(w.report);
}
