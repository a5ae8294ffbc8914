import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { consume } from '../client/queue-consumer.js';
import { isPermanent } from '../client/queues-retry.js';
import { Backoff, sleep } from '../lib/backoff.js';
import { hasCode } from '../lib/errors.js';
import type { WorkerSpec } from '../manifest/model.js';
import { runAction } from '../materialize/actions.js';
import { isQueueFault } from '../queues/faults.js';
import type { Queues } from '../queues/queues.js';
import type { Message, Project } from '../queues/types.js';
import type { QueuePoster } from './queue-action.js';
import { matchesFilter, retryDelay, unwrap, wrap } from './envelope.js';

/** last_error kept when the full one does not fit a re-post (characters). */
const SHORT_ERROR = 200;

/** One worker in /v1/status. Counters count messages since the worker started. */
export interface WorkerStatus {
  name: string;
  queue: string;
  claimed: number;
  succeeded: number;
  failed: number;
  dead_lettered: number;
  skipped: number;
  in_flight: number;
  last_error: string | null;
}

export type WorkerCounter = 'claimed' | 'succeeded' | 'failed' | 'dead_lettered' | 'skipped';

export interface WorkerDeps {
  queues: Queues;
  project: Project;
  log: Logger;
  /** Every count change, for /metrics. */
  onCount?: ((worker: string, counter: WorkerCounter) => void) | undefined;
  onInFlight?: ((worker: string, inFlight: number) => void) | undefined;
  /** Every time last_error is set (alerting without polling /v1/status). */
  onError?: ((worker: string) => void) | undefined;
  /** Where a queue action posts (a worker may feed another queue). */
  poster?: QueuePoster | undefined;
}

/** What a message's action gets: as JSON on stdin (exec) or as the request body (http). */
export interface WorkerInput {
  /** The first delivery's message id: the same across retries (an idempotency key). */
  id: string;
  /** This delivery's message id. */
  message_id: string;
  queue: string;
  /** 1 on the first delivery. */
  attempt: number;
  body: unknown;
}

/**
 * A running worker: consume() claims messages of the queue and renews the
 * claim while actions run; this supplies the handler (filter -> action ->
 * retry or dead-letter) and the counts. `stop()` aborts running actions
 * (their messages are released for another agent) and resolves when the
 * last claim is settled.
 */
export class Worker {
  private readonly stats: WorkerStatus;
  private readonly ac = new AbortController();
  private readonly done: Promise<void>;
  /** Posts of retries and dead letters carry their own Client-ID. */
  private readonly clientId = randomUUID();

  constructor(
    readonly spec: WorkerSpec,
    private readonly deps: WorkerDeps,
  ) {
    this.stats = { name: spec.name, queue: spec.queue, claimed: 0, succeeded: 0, failed: 0, dead_lettered: 0, skipped: 0, in_flight: 0, last_error: null };
    this.done = this.run();
  }

  status(): WorkerStatus {
    return { ...this.stats };
  }

  /** Idempotent. */
  stop(): Promise<void> {
    this.ac.abort();
    return this.done;
  }

  private async run(): Promise<void> {
    const { spec, deps } = this;
    const signal = this.ac.signal;
    // Restarted after a fault retrying cannot fix (a claim ttl below the server's floor, a refused token),
    // slowly: the manifest or the server may be changed while the agent runs.
    const backoff = new Backoff({ initialMs: 1000, maxMs: 60_000, jitter: 0.5 });
    while (!signal.aborted) {
      try {
        await this.ensureQueues(signal);
        await consume(deps.queues, deps.project, spec.queue, (m, ctx) => this.handle(m, ctx.signal), {
          signal,
          // At most 20 per claim (the server's default maximum); the pipeline claims again as slots free,
          // so `concurrency` above 20 is real and one slow message does not idle the other slots.
          limit: Math.min(20, spec.concurrency),
          concurrency: spec.concurrency,
          pipeline: true,
          ttl: spec.ttlSec,
          grace: spec.graceSec,
          onError: (err) => this.upstreamError(err),
        });
      } catch (err) {
        if (signal.aborted) break;
        this.upstreamError(err);
        await sleep(backoff.next(), signal);
      }
    }
  }

  private async ensureQueues(signal: AbortSignal): Promise<void> {
    const { queues, project } = this.deps;
    await queues.createQueue(project, this.spec.queue, signal);
    if (this.spec.deadLetter !== null) await queues.createQueue(project, this.spec.deadLetter, signal);
  }

  private upstreamError(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.setLastError(message);
    this.deps.log.warn({ worker: this.spec.name, err: message, permanent: isPermanent(err) }, 'worker queue call failed');
  }

  private setLastError(text: string): void {
    this.stats.last_error = text;
    this.deps.onError?.(this.spec.name);
  }

  private count(counter: WorkerCounter): void {
    this.stats[counter] += 1;
    this.deps.onCount?.(this.spec.name, counter);
  }

  private setInFlight(delta: number): void {
    this.stats.in_flight += delta;
    this.deps.onInFlight?.(this.spec.name, this.stats.in_flight);
  }

  /** Resolves = the message is done with (consume deletes it); rejects only on a stop (it is released). */
  private async handle(message: Message, signal: AbortSignal): Promise<void> {
    const { spec } = this;
    this.count('claimed');
    const env = unwrap(message.body);
    if (!matchesFilter(spec.filter, env.body)) {
      this.count('skipped');
      return;
    }
    const id = env.firstId ?? message.id;
    const input: WorkerInput = { id, message_id: message.id, queue: spec.queue, attempt: env.attempts + 1, body: env.body };
    this.setInFlight(1);
    try {
      const result = await runAction(spec.action.action, { input: JSON.stringify(input), queues: this.deps.poster, signal });
      if (result.ok) {
        this.count('succeeded');
        return;
      }
      this.count('failed');
      this.setLastError(`message ${id}: ${result.output}`);
      this.deps.log.warn({ worker: spec.name, message: id, attempt: input.attempt, output: result.output }, 'worker action failed');
      await this.afterFailure(message, env.body, id, env.attempts + 1, result.output, signal);
    } finally {
      this.setInFlight(-1);
    }
  }

  /**
   * Retry later (re-posted with the count) or dead-letter; the claim is
   * renewed meanwhile. Resolves whenever the message is accounted for, so it
   * is deleted: a retry that cannot be posted must not release the original,
   * which would come back with the same count and bypass `attempts` (M2 of
   * the review). Rejects only when the claim is stopped or lost.
   */
  private async afterFailure(message: Message, body: unknown, id: string, attempts: number, lastError: string, signal: AbortSignal): Promise<void> {
    if (attempts < this.spec.attempts) {
      await sleep(retryDelay(this.spec, attempts), signal);
      // Stopped while waiting: reject, so the message is released and retried elsewhere (this attempt not counted).
      signal.throwIfAborted();
      const retries = [wrap(body, id, attempts, lastError), wrap(body, id, attempts, shortError(lastError))];
      if (await this.postHeld(this.spec.queue, retries, message.ttl, signal)) return;
      this.deps.log.warn({ worker: this.spec.name, message: id, attempts }, 'retry cannot be posted (too large?): dead-lettering now');
    }
    await this.deadLetter(message, body, id, attempts, lastError, signal);
  }

  /** The dead letter; smaller forms when the full one is refused, and an error log when none fits (or there is no dead-letter queue). */
  private async deadLetter(message: Message, body: unknown, id: string, attempts: number, lastError: string, signal: AbortSignal): Promise<void> {
    const queue = this.spec.deadLetter;
    const letter = { id, queue: this.spec.queue, attempts, last_error: lastError };
    const forms = [{ ...letter, body }, { ...letter, last_error: shortError(lastError), body }, { ...letter, last_error: shortError(lastError), body_omitted: true }];
    const posted = queue !== null && (await this.postHeld(queue, forms, message.ttl, signal));
    this.count('dead_lettered');
    if (queue !== null && !posted) {
      this.setLastError(`message ${id}: dead letter refused by queue ${queue}; dropped`);
      this.deps.log.error({ worker: this.spec.name, message: id, attempts, dead_letter: queue }, 'dead letter refused: message dropped');
      return;
    }
    this.deps.log.warn({ worker: this.spec.name, message: id, attempts, dead_letter: queue }, 'message dead-lettered');
  }

  /**
   * Posts the first of `forms` the server accepts. A failure retrying can fix
   * (unreachable, 503, timeout, a refused token, a deleted queue: created
   * again) is retried with backoff while the claim is held (`signal` aborts
   * when it is stopped or lost: then this rejects); a refusal of the request
   * (a 4xx queues fault: too large, say) moves on to the next form. False when every
   * form was refused. A post the server applied but whose reply was lost is
   * posted again: a retry may then run twice (at least once).
   */
  private async postHeld(queue: string, forms: unknown[], ttl: number, signal: AbortSignal): Promise<boolean> {
    const { queues, project } = this.deps;
    const backoff = new Backoff({ initialMs: 200, maxMs: 10_000, jitter: 0.5 });
    for (const body of forms) {
      for (;;) {
        try {
          await queues.postMessages(project, queue, this.clientId, [{ ttl, body }], signal);
          return true;
        } catch (err) {
          signal.throwIfAborted();
          this.upstreamError(err);
          // Only the server refusing this body moves on to a smaller form. A refused token (401) is not about the
          // body: dropping the message for it would lose it; held and retried, the claim's lease bounds the wait.
          if (isQueueFault(err) && isPermanent(err)) break;
          if (hasCode(err, 'client.closed')) throw err;
          // The queue was deleted under us (a dead-letter queue, say): a post would 404 for as long as the claim
          // is renewed, holding the slot for good. Created again, as at the worker's start.
          if (isQueueFault(err, 'notFound')) await queues.createQueue(project, queue, signal).catch((e: unknown) => this.upstreamError(e));
        }
        await sleep(backoff.next(), signal);
        signal.throwIfAborted();
      }
    }
    return false;
  }
}

/** A last error short enough for a retry or a letter near the post size limit. */
function shortError(text: string): string {
  return text.length <= SHORT_ERROR ? text : `${text.slice(0, SHORT_ERROR)}…`;
}
