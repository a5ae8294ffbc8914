import type { WorkerSpec } from '../manifest/model.js';

/**
 * How a worker counts attempts. A v1 queue has no delivery count, so a
 * failed message is re-posted (after the retry delay, while its claim is
 * held) wrapped in an envelope that carries the count, and the original is
 * then deleted: `{ "tether_retry": { "id", "attempts", "last_error" }, "body": <the original body> }`.
 * `id` is the first delivery's message id, stable across attempts (the
 * action's idempotency key). An action never sees the envelope.
 */
export interface Unwrapped {
  body: unknown;
  /** Failed runs so far. */
  attempts: number;
  /** The first delivery's message id, or null on a first delivery. */
  firstId: string | null;
  lastError: string | null;
}

interface Envelope {
  tether_retry: { id: string; attempts: number; last_error: string };
  body: unknown;
}

export function unwrap(body: unknown): Unwrapped {
  if (isEnvelope(body)) {
    const r = body.tether_retry;
    return { body: body.body, attempts: r.attempts, firstId: r.id, lastError: r.last_error };
  }
  return { body, attempts: 0, firstId: null, lastError: null };
}

export function wrap(body: unknown, id: string, attempts: number, lastError: string): Envelope {
  return { tether_retry: { id, attempts, last_error: lastError }, body };
}

function isEnvelope(v: unknown): v is Envelope {
  if (typeof v !== 'object' || v === null || !('tether_retry' in v) || !('body' in v)) return false;
  const r = (v as { tether_retry: unknown }).tether_retry;
  return typeof r === 'object' && r !== null && typeof (r as { id?: unknown }).id === 'string' && typeof (r as { attempts?: unknown }).attempts === 'number';
}

/**
 * The filter: `types` looks at body.type; service_tag / service_id_prefix at
 * body.payload.tags / .id of service.* events; key_prefix at
 * body.payload.configuration_value_id of configuration_value.* events (the
 * registry's event shape, as the server routes events into queues); `match`
 * compares top-level fields. Every filter that is set must pass.
 */
export function matchesFilter(filter: WorkerSpec['filter'], body: unknown): boolean {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const type = typeof b.type === 'string' ? b.type : null;
  const payload = (typeof b.payload === 'object' && b.payload !== null ? b.payload : {}) as Record<string, unknown>;
  const isService = type?.startsWith('service.') ?? false;
  if (filter.types !== null && (type === null || !filter.types.includes(type))) return false;
  if (filter.serviceTag !== null && !(isService && Array.isArray(payload.tags) && payload.tags.includes(filter.serviceTag))) return false;
  if (filter.serviceIdPrefix !== null && !(isService && typeof payload.id === 'string' && payload.id.startsWith(filter.serviceIdPrefix))) return false;
  const key = payload.configuration_value_id;
  if (filter.keyPrefix !== null && !(type?.startsWith('configuration_value.') && typeof key === 'string' && key.startsWith(filter.keyPrefix))) return false;
  for (const [field, value] of Object.entries(filter.match ?? {})) if (b[field] !== value) return false;
  return true;
}

/** The retry delay before attempt `attempts + 1`: retryDelayMs doubled per failure, at most a minute. */
export function retryDelay(spec: WorkerSpec, attempts: number): number {
  return Math.min(60_000, spec.retryDelayMs * 2 ** Math.max(0, attempts - 1));
}
