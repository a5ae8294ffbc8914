import { DEFAULT_QUEUE_LIMITS, type QueueLimits } from '../queues/types.js';
import { UsageError } from './command.js';

/**
 * `--queue-limits` of `tether registry`: the Cloud Queues limits of spec
 * section 3 (upstream defaults otherwise), as NAME=VALUE pairs with the
 * QueueLimits field names in snake_case (max_messages_per_claim=100). One
 * object that the QueueService takes and the HTTP server then reads from it.
 */

function snake(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

const FIELDS = new Map(Object.keys(DEFAULT_QUEUE_LIMITS).map((f) => [snake(f), f as keyof QueueLimits]));

/** The names `--queue-limits` accepts, for help and errors. */
export const QUEUE_LIMIT_NAMES: readonly string[] = [...FIELDS.keys()];

export function parseQueueLimits(text: string | undefined): Partial<QueueLimits> | undefined {
  if (text === undefined) return undefined;
  const out: Partial<QueueLimits> = {};
  for (const part of text.split(',')) {
    const m = /^([a-z_]+)=(\d{1,12})$/.exec(part.trim());
    const field = m === null ? undefined : FIELDS.get(m[1] as string);
    if (m === null || field === undefined) {
      throw new UsageError(`--queue-limits: "${part}" is not NAME=INTEGER (names: ${QUEUE_LIMIT_NAMES.join(', ')})`, 'registry');
    }
    out[field] = Number(m[2]);
  }
  return out;
}
