import { Liquid } from 'liquidjs';
import type { ActionSpec } from '../manifest/model.js';
import { describeError, truncateOutput, type Verdict } from '../probes/attempt.js';

/** Posts one message; resolves with its id. The agent's is backed by the upstream server's queues. */
export interface QueuePoster {
  post(queue: string, body: unknown, ttlSec: number, signal?: AbortSignal): Promise<string>;
}

type QueueSpec = Extract<ActionSpec, { kind: 'queue' }>;

/**
 * The body template is inline LiquidJS text with the file templates' strict
 * options (a missing variable or unknown filter is an error), and no file
 * system: no includes. It sees `input`: what the action would get on stdin
 * (the event for a hook, the worker's message document for a worker, null
 * for a file change), and `tether.queue`. The rendered text is posted as
 * JSON when it parses as JSON, else as a string. Without a body template the
 * body is `input` itself.
 */
const liquid = new Liquid({ strictVariables: true, strictFilters: true, ownPropertyOnly: true, lenientIf: true, parseLimit: 100_000, renderLimit: 1000, memoryLimit: 10_000_000 });

export async function renderQueueBody(spec: QueueSpec, input: string | undefined): Promise<unknown> {
  const parsed = input === undefined || input === '' ? null : parseOr(input, input);
  if (spec.body === null) return parsed;
  const text = await liquid.parseAndRender(spec.body, { input: parsed, tether: { queue: spec.queue } });
  return parseOr(text.trim(), text);
}

/** One post of a queue action: ok with the new message's id, or the reason it failed. */
export async function queueOnce(spec: QueueSpec, input: string | undefined, poster: QueuePoster | undefined, signal: AbortSignal): Promise<Verdict> {
  if (poster === undefined) return { ok: false, output: 'queue action: no queues client here (the agent needs upstream.url)' };
  let body: unknown;
  try {
    body = await renderQueueBody(spec, input);
  } catch (err) {
    return { ok: false, output: `queue action: body template: ${truncateOutput(describeError(err), 500)}` };
  }
  try {
    const id = await poster.post(spec.queue, body, spec.ttlSec, signal);
    return { ok: true, output: `posted message ${id} to queue ${spec.queue}` };
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    return { ok: false, output: `queue action: post to ${spec.queue} failed: ${truncateOutput(describeError(err), 500)}` };
  }
}

function parseOr(text: string, fallback: unknown): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return fallback;
  }
}
