import { Backoff, sleep } from '../lib/backoff.js';
import { TetherError } from '../lib/errors.js';
import { isQueueFault } from '../queues/faults.js';
import type { Queues } from '../queues/queues.js';
import type { Claim, Message, Project } from '../queues/types.js';
import { isPermanent, report } from './queues-retry.js';

/** What a handler gets beside the message. */
export interface MessageContext {
  claimId: string;
  /** Aborts when the consumer is stopped or the claim is lost (renewal found it gone): stop early if you can. */
  signal: AbortSignal;
}

/** Resolves = handled (the message is deleted); rejects = failed (the message is released and redelivered). */
export type MessageHandler = (message: Message, ctx: MessageContext) => Promise<void> | void;

export interface ConsumeOptions {
  /** Stops the consumer: no new claims or handler calls; in-flight handlers settle, the rest is released. */
  signal: AbortSignal;
  /** Messages per claim (default 10; the server's maximum is 20 by default). */
  limit?: number | undefined;
  /** Claim ttl, seconds (60..43200, default 60). */
  ttl?: number | undefined;
  /** Claim grace, seconds (60..43200, default 60): how long past the claim a message outlives its own ttl. */
  grace?: number | undefined;
  /** Handler calls running at once, within one claim (default 1). */
  concurrency?: number | undefined;
  /** How long one claim request waits for a message (the `wait` extension; default 20 s, the server caps at 30 s). */
  waitMs?: number | undefined;
  /** How often a claim is renewed while its handlers run, ms (default a third of `ttl`). */
  renewEveryMs?: number | undefined;
  /** Pause after an empty claim that came back early (a server that does not hold claims), ms (default 1000). */
  pollIntervalMs?: number | undefined;
  /** Every failure the loop survives (upstream errors, handler errors, failed deletes/renewals): logs, metrics. */
  onError?: ((err: unknown) => void) | undefined;
  random?: (() => number) | undefined;
}

export interface ConsumeResult {
  /** Messages whose handler resolved (and that were then deleted, or whose delete was attempted). */
  handled: number;
  /** Handler calls that rejected (their messages were released for redelivery). */
  failed: number;
}

/**
 * Works a queue: claims messages (waiting for them, no polling interval),
 * hands each to `handler`, renews the claim while handlers run, deletes each
 * handled message with its claim id, and releases the claim once its batch
 * has settled if any message failed (or was not started because of a stop),
 * so that those become claimable at once instead of at the claim's expiry.
 *
 * Why release after the batch rather than at the first failure: claims take
 * the oldest free messages, so a message that always fails would head every
 * claim, and releasing at once would let it starve the messages behind it.
 * v1 has no per-message release and no dead-letter queue: a message that
 * keeps failing is redelivered until its own ttl ends it.
 *
 * Delivery is at least once: a handler that outlives a lost claim (renewal
 * failed past the ttl) may see its message handled again elsewhere.
 *
 * Upstream failures (unreachable, 503) are retried with capped exponential
 * backoff; a fault that retrying cannot fix (a bad ttl, an invalid queue
 * name, a refused token, a closed client) rejects. Resolves with the counts
 * once `signal` has aborted and the last claim is settled.
 */
export async function consume(
  queues: Queues,
  project: Project,
  queue: string,
  handler: MessageHandler,
  opts: ConsumeOptions,
): Promise<ConsumeResult> {
  const { signal } = opts;
  const ttl = opts.ttl ?? 60;
  const settings: ClaimWork = {
    queues,
    project,
    queue,
    handler,
    signal,
    ttl,
    concurrency: Math.max(1, opts.concurrency ?? 1),
    // A floor, so that a zero or negative value cannot turn renewal into a busy loop.
    renewEveryMs: Math.max(10, opts.renewEveryMs ?? (ttl * 1000) / 3),
    report: (err) => report(opts.onError, err),
  };
  const claimBody = { ttl, grace: opts.grace ?? 60 };
  const claimOpts = { limit: opts.limit ?? 10, waitMs: opts.waitMs ?? 20_000 };
  // 100 ms doubling to 5 s with equal jitter, so consumers that lost the same server do not return in lock-step.
  const backoff = new Backoff({ initialMs: 100, maxMs: 5000, jitter: 0.5, random: opts.random });
  const result: ConsumeResult = { handled: 0, failed: 0 };
  while (!signal.aborted) {
    const started = Date.now();
    let claim: Claim | null;
    try {
      claim = await queues.claimMessages(project, queue, claimBody, claimOpts, signal);
      backoff.reset();
    } catch (err) {
      if (signal.aborted) break;
      if (isPermanent(err)) throw err;
      settings.report(err);
      await sleep(backoff.next(), signal);
      continue;
    }
    if (claim === null) {
      // Back well before the wait was up (or not waiting at all): the server does not hold claims; pause instead of spinning.
      const elapsed = Date.now() - started;
      if (claimOpts.waitMs <= 0 || elapsed < claimOpts.waitMs / 2) await sleep(opts.pollIntervalMs ?? 1000, signal);
      continue;
    }
    const counts = await workClaim(settings, claim);
    result.handled += counts.handled;
    result.failed += counts.failed;
  }
  return result;
}

interface ClaimWork {
  queues: Queues;
  project: Project;
  queue: string;
  handler: MessageHandler;
  signal: AbortSignal;
  ttl: number;
  concurrency: number;
  renewEveryMs: number;
  report: (err: unknown) => void;
}

/** One claim, as steps: renew in the background, run the handlers, stop renewing, release what is left. */
async function workClaim(w: ClaimWork, claim: Claim): Promise<ConsumeResult> {
  // Aborts the handlers on a stop or when renewal finds the claim gone; the listener goes in `finally`.
  const claimAc = new AbortController();
  const onStop = (): void => claimAc.abort(w.signal.reason);
  // Stopped while the claim was on its way back: start nothing, release it all.
  if (w.signal.aborted) onStop();
  else w.signal.addEventListener('abort', onStop, { once: true });
  const renewing = new AbortController();
  const renewal = renewWhileRunning(w, claim.id, renewing.signal, claimAc);
  try {
    const counts = await runHandlers(w, claim, claimAc.signal);
    renewing.abort();
    const lost = await renewal;
    if ((counts.failed > 0 || counts.unstarted > 0) && !lost) await release(w, claim.id);
    return { handled: counts.handled, failed: counts.failed };
  } finally {
    renewing.abort();
    w.signal.removeEventListener('abort', onStop);
  }
}

/** Runs the claim's messages through the handler, `concurrency` at a time; stops starting new ones on abort. */
async function runHandlers(w: ClaimWork, claim: Claim, signal: AbortSignal): Promise<ConsumeResult & { unstarted: number }> {
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
      }
      counts.handled += 1;
      // Not awaited here: the next handler starts while the delete is on the
      // wire, and the deletes of one batch can share the server's commit.
      // No signal: a stop must not leave a handled message to be redelivered.
      deletes.push(w.queues.deleteMessage(w.project, w.queue, message.id, claim.id).catch(w.report));
    }
  };
  await Promise.all(Array.from({ length: Math.min(w.concurrency, claim.messages.length) }, worker));
  // Settled before the claim is released or the next one taken.
  await Promise.all(deletes);
  counts.unstarted = claim.messages.length - next;
  return counts;
}

/**
 * Renews every `renewEveryMs` until `stop` aborts; resolves true when the
 * claim was found gone (notFound: it expired before a renewal got through),
 * which also aborts the handlers through `claimAc`. Other failures are
 * reported and retried at the next tick.
 */
async function renewWhileRunning(w: ClaimWork, claimId: string, stop: AbortSignal, claimAc: AbortController): Promise<boolean> {
  for (;;) {
    await sleep(w.renewEveryMs, stop);
    if (stop.aborted) return false;
    try {
      await w.queues.renewClaim(w.project, w.queue, claimId, { ttl: w.ttl }, stop);
    } catch (err) {
      if (stop.aborted) return false;
      w.report(err);
      if (isQueueFault(err, 'notFound')) {
        claimAc.abort(new TetherError('queues.claimLost', `claim ${claimId} expired before it could be renewed`));
        return true;
      }
    }
  }
}

async function release(w: ClaimWork, claimId: string): Promise<void> {
  // No signal: the release is what a stop owes the other consumers.
  await w.queues.releaseClaim(w.project, w.queue, claimId).catch(w.report);
}
