import { randomUUID } from 'node:crypto';
import { Backoff, sleep } from '../lib/backoff.js';
import type { Queues } from '../queues/queues.js';
import type { Message, Project } from '../queues/types.js';
import { isPermanent, report } from './queues-retry.js';

export interface FollowOptions {
  /** Ends the iteration (the request in flight is aborted). */
  signal: AbortSignal;
  /** Client-ID of the observer (default a random one: then echo does not matter). */
  clientId?: string | undefined;
  /** Resume after this marker (from a previous batch); default: from the oldest message. */
  marker?: string | undefined;
  /** Messages per request (the server's default when absent). */
  limit?: number | undefined;
  echo?: boolean | undefined;
  includeClaimed?: boolean | undefined;
  /** How long one request waits for a new message (the `wait` extension; default 20 s). */
  waitMs?: number | undefined;
  /** Pause after an empty page that came back early (a server that does not hold lists), ms (default 1000). */
  pollIntervalMs?: number | undefined;
  /** Failures the loop survives (it retries with backoff). */
  onError?: ((err: unknown) => void) | undefined;
  random?: (() => number) | undefined;
}

/** One page of new messages and the marker to resume after it. */
export interface FollowBatch {
  messages: Message[];
  marker: string;
}

/**
 * The publish-subscribe side (spec 5.2, 8.2): yields every message posted to
 * the queue after `marker`, oldest first, page by page, and waits for new
 * ones with the `wait` extension instead of polling. Nothing is consumed.
 * Persist each batch's `marker` to resume there later.
 *
 * Upstream failures are retried with capped backoff (and reported to
 * `onError`); a fault retrying cannot fix (an invalid queue name, a refused
 * token, a closed client) is thrown. Returns when `signal` aborts.
 */
export async function* followMessages(queues: Queues, project: Project, queue: string, opts: FollowOptions): AsyncGenerator<FollowBatch> {
  const { signal } = opts;
  const clientId = opts.clientId ?? randomUUID();
  const waitMs = opts.waitMs ?? 20_000;
  const backoff = new Backoff({ initialMs: 100, maxMs: 5000, jitter: 0.5, random: opts.random });
  let marker = opts.marker;
  while (!signal.aborted) {
    const started = Date.now();
    let page;
    try {
      const listOpts = { clientId, marker, limit: opts.limit, echo: opts.echo, includeClaimed: opts.includeClaimed, waitMs };
      page = await queues.listMessages(project, queue, listOpts, signal);
      backoff.reset();
    } catch (err) {
      if (signal.aborted) return;
      if (isPermanent(err)) throw err;
      report(opts.onError, err);
      await sleep(backoff.next(), signal);
      continue;
    }
    if (page.messages.length > 0 && page.marker !== undefined) {
      marker = page.marker;
      yield { messages: page.messages, marker };
    } else if (waitMs <= 0 || Date.now() - started < waitMs / 2) {
      // Empty and back early: this server does not hold lists; poll at an interval rather than spin.
      await sleep(opts.pollIntervalMs ?? 1000, signal);
    }
  }
}
