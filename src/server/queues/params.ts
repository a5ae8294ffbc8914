import { queueFault } from '../../queues/faults.js';
import { type QueryPair } from '../query.js';

/**
 * Query parameters of spec 2.4, read the way the upstream server (Falcon
 * 0.1) read them: an empty value counts as absent, integers are base-10 text
 * (range checks are the domain's), booleans are exactly true/True/yes and
 * false/False/no, lists are comma-separated and may repeat (`ids=a&ids=b`,
 * as python-zaqarclient sends them). Unknown parameters are ignored.
 */

/** The first non-empty value of `name`, or undefined. */
export function param(pairs: readonly QueryPair[], name: string): string | undefined {
  for (const p of pairs) if (p.name === name && p.value !== '') return p.value;
  return undefined;
}

function invalid(name: string, why: string): never {
  throw queueFault('invalidQuery', `The value of the "${name}" query parameter is invalid: ${why}.`);
}

/** An integer parameter (Python `int()` text: sign and surrounding spaces allowed), or undefined. */
export function intParam(pairs: readonly QueryPair[], name: string): number | undefined {
  const v = param(pairs, name);
  if (v === undefined) return undefined;
  if (!/^\s*[+-]?\d+\s*$/.test(v)) invalid(name, 'it must be an integer');
  return Number(v);
}

const TRUE = new Set(['true', 'True', 'yes']);
const FALSE = new Set(['false', 'False', 'no']);

/** A boolean parameter, or undefined. */
export function boolParam(pairs: readonly QueryPair[], name: string): boolean | undefined {
  const v = param(pairs, name);
  if (v === undefined) return undefined;
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  return invalid(name, 'it must be true or false');
}

/** Every item of every non-empty `name` value, split on commas (empty items kept), or undefined when absent. */
export function listParam(pairs: readonly QueryPair[], name: string): string[] | undefined {
  let out: string[] | undefined;
  for (const p of pairs) {
    if (p.name !== name || p.value === '') continue;
    (out ??= []).push(...p.value.split(','));
  }
  return out;
}

/**
 * The `wait` extension (long-poll) in milliseconds: whole or decimal seconds,
 * else invalidQuery; undefined when absent. A longer wait is capped at
 * maxWaitMs, as the in-process service caps `waitMs`: a client cannot know
 * an operator's lowered maximum, and a wait that ends early is still a
 * correct (empty) answer, so refusing it would only break consumers.
 */
export function waitParam(pairs: readonly QueryPair[], maxWaitMs: number): number | undefined {
  const v = param(pairs, 'wait');
  if (v === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(v)) invalid('wait', 'it must be a number of seconds');
  return Math.min(Math.round(Number(v) * 1000), maxWaitMs);
}

/** Query parameters that generated `next` links repeat (besides `marker`), by route. */
export const LINK_PARAMS = {
  queues: ['limit', 'detailed'],
  messages: ['limit', 'echo', 'include_claimed', 'wait'],
} as const;

const BOOLEAN_PARAMS = new Set(['detailed', 'echo', 'include_claimed']);

/**
 * `{path}?{query}` for the next page: the known parameters the request
 * supplied, in its order, booleans written `true`/`false`, and `marker`
 * replaced by (or appended as) `nextMarker`.
 */
export function nextLink(path: string, pairs: readonly QueryPair[], keep: readonly string[], nextMarker: string): string {
  const parts: string[] = [];
  const seen = new Set<string>();
  const marker = `marker=${encodeURIComponent(nextMarker)}`;
  for (const p of pairs) {
    if (seen.has(p.name) || p.value === '') continue;
    if (p.name === 'marker') parts.push(marker);
    else if (BOOLEAN_PARAMS.has(p.name) && keep.includes(p.name)) parts.push(`${p.name}=${TRUE.has(p.value)}`);
    else if (keep.includes(p.name)) parts.push(`${p.name}=${encodeURIComponent(p.value)}`);
    else continue;
    seen.add(p.name);
  }
  if (!seen.has('marker')) parts.push(marker);
  return `${path}?${parts.join('&')}`;
}
