import { getMaxListeners, setMaxListeners } from 'node:events';
import { Backoff, sleep } from '../lib/backoff.js';
import { isQueueFault } from '../queues/faults.js';
import type { Queues } from '../queues/queues.js';
import type { Claim, Project } from '../queues/types.js';
import { workClaim, type ClaimWork, type MessageHandler } from './queue-claim.js';
import { isPermanent, report } from './queues-retry.js';

export type { MessageContext, MessageHandler } from './queue-claim.js';

export interface ConsumeOptions {
  /** Stops the consumer: no new claims or handler calls; in-flight handlers settle, the rest is released. */
  signal: AbortSignal;
  /** Messages per claim (default 10; the server's maximum is 20 by default; halved while a server refuses it). */
  limit?: number | undefined;
  /** Claim ttl, seconds (60..43200, default 60). */
  ttl?: number | undefined;
  /** Claim grace, seconds (60..43200, default 60): how long past the claim a message outlives its own ttl. */
  grace?: number | undefined;
  /** Handler calls running at once: within one claim, or across claims with `pipeline` (default 1). */
  concurrency?: number | undefined;
  /**
   * Claim again as soon as a handler slot frees, instead of after the whole
   * claim has settled: `concurrency` handlers run across several claims (each
   * claim takes at most the free slots, and at most `limit`), so one slow
   * message does not hold the other slots idle, and `concurrency` may exceed
   * the server's messages per claim. Default false (one claim at a time).
   */
  pipeline?: boolean | undefined;
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
 * Delivery is at least once. A claim that no renewal reached for its ttl
 * less a margin (leaseMarginMs) counts as lost: its handlers are aborted
 * before the server can hand the messages to another consumer, and nothing
 * is released. A handler that ignores its signal may still overlap.
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
  const slots = new Slots(opts.pipeline === true ? settings.concurrency : 0);
  // The pipeline keeps up to `concurrency` claims open, each listening on `signal` for a stop: no leak, just many.
  if (slots.enabled) setMaxListeners(Math.max(getMaxListeners(signal), settings.concurrency + 10), signal);
  settings.onSettled = () => slots.free();
  const working = new Set<Promise<void>>();
  while (!signal.aborted) {
    if (!(await slots.waitFree(signal))) break;
    const started = Date.now();
    let claim: Claim | null;
    const asked = slots.claimLimit(claimOpts.limit);
    try {
      claim = await queues.claimMessages(project, queue, claimBody, { ...claimOpts, limit: asked }, signal);
      backoff.reset();
    } catch (err) {
      if (signal.aborted) break;
      // A server that allows fewer messages per claim (`--queue-limits max_messages_per_claim`) refuses the limit:
      // ask for half (a refused ttl or grace is refused again down to 1, and then rejects).
      if (isQueueFault(err, 'invalidApiCall') && asked > 1) {
        settings.report(err);
        claimOpts.limit = Math.floor(asked / 2);
        continue;
      }
      if (isPermanent(err)) {
        await Promise.all(working);
        throw err;
      }
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
    slots.take(claim.messages.length);
    // The lease counts from the reply: a waiting claim is made when a message comes, just before the server answers.
    const work = workClaim(settings, claim, Date.now()).then(
      (counts) => {
        result.handled += counts.handled;
        result.failed += counts.failed;
      },
      (err: unknown) => settings.report(err),
    );
    if (!slots.enabled) {
      await work;
      continue;
    }
    working.add(work);
    void work.finally(() => working.delete(work));
  }
  await Promise.all(working);
  return result;
}

/** The pipeline's handler slots (disabled: one claim at a time, `limit` messages each). */
class Slots {
  private busy = 0;
  private wake: (() => void) | null = null;

  constructor(private readonly size: number) {}

  get enabled(): boolean {
    return this.size > 0;
  }

  /** Resolves true once a slot is free, false when stopped first. */
  async waitFree(signal: AbortSignal): Promise<boolean> {
    while (this.enabled && this.busy >= this.size && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
    return !signal.aborted;
  }

  claimLimit(limit: number): number {
    return this.enabled ? Math.max(1, Math.min(limit, this.size - this.busy)) : limit;
  }

  take(n: number): void {
    if (this.enabled) this.busy += n;
  }

  free(): void {
    if (!this.enabled) return;
    this.busy -= 1;
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
