import { parseDuration } from '../lib/duration.js';
import type { ManifestIssue } from './issues.js';
import type { ActionSpec, WorkerSpec } from './model.js';
import type { ParsedWorker } from './schema.js';

type Where = (path: PropertyKey[], message: string) => ManifestIssue;
type ActionRef = (ref: ParsedWorker['action'], path: PropertyKey[]) => { name: string | null; action: ActionSpec };

/**
 * Claim ttl and grace: whole seconds up to the queues' maximum (spec 3). The
 * floor is the server's (60 s by default, lower on a server configured so):
 * a claim it refuses is logged and shown as the worker's last error.
 */
const CLAIM_MIN_SEC = 1;
const CLAIM_MAX_SEC = 43_200;
const CLAIM_DEFAULT_SEC = 60;

/** Normalizes `workers`: durations to numbers, claim ranges checked, unique names. */
export function normalizeWorkers(parsed: ParsedWorker[], where: Where, issues: ManifestIssue[], actionRef: ActionRef): WorkerSpec[] {
  const names = new Set<string>();
  return parsed.map((w, i) => {
    const path = ['workers', i];
    if (names.has(w.name)) issues.push(where([...path, 'name'], `worker "${w.name}" is already defined`));
    names.add(w.name);
    if (w.dead_letter === w.queue) issues.push(where([...path, 'dead_letter'], 'must not be the worker\'s own queue'));
    const at = where(path, '');
    return {
      name: w.name,
      queue: w.queue,
      concurrency: w.concurrency,
      ttlSec: claimSeconds(w.ttl, [...path, 'ttl'], where, issues),
      graceSec: claimSeconds(w.grace, [...path, 'grace'], where, issues),
      filter: {
        types: w.filter?.types ?? null,
        serviceTag: w.filter?.service_tag ?? null,
        serviceIdPrefix: w.filter?.service_id_prefix ?? null,
        keyPrefix: w.filter?.key_prefix ?? null,
        match: w.filter?.match ?? null,
      },
      action: actionRef(w.action, [...path, 'action']),
      attempts: w.attempts,
      deadLetter: w.dead_letter ?? null,
      retryDelayMs: w.retry_delay === undefined ? 1000 : parseDuration(w.retry_delay),
      origin: `${at.file}:${at.line}`,
    };
  });
}

function claimSeconds(v: string | number | undefined, path: PropertyKey[], where: Where, issues: ManifestIssue[]): number {
  if (v === undefined) return CLAIM_DEFAULT_SEC;
  const ms = parseDuration(v);
  if (ms % 1000 !== 0 || ms < CLAIM_MIN_SEC * 1000 || ms > CLAIM_MAX_SEC * 1000) {
    issues.push(where(path, `must be a whole number of seconds from ${CLAIM_MIN_SEC} to ${CLAIM_MAX_SEC}`));
  }
  return Math.round(ms / 1000);
}
