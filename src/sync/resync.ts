import { sleep } from '../lib/backoff.js';
import { isFault } from '../registry/faults.js';
import type { Registry } from '../registry/registry.js';
import { inParallel } from './in-parallel.js';
import type { LocalService, LocalState } from './local-state.js';

/** GETs in flight at once during a round: the check is background work and must stay gentle on the registry. */
export const RESYNC_CONCURRENCY = 4;

export interface ResyncOptions {
  registry: Registry;
  tenant: string;
  services: LocalState;
  /** A check found the service missing (already marked unregistered): register it again. */
  onMissing: (id: string) => void;
  /** A GET that failed for another reason than the registry's "does not exist" (the round goes on with the others). */
  onError: (err: unknown) => void;
}

/**
 * True when `err` is the registry's own answer that service `id` does not
 * exist: a notFoundError whose details name that Service (spec 2.2.3). A 404
 * rebuilt from the status alone (a proxy's or ingress's page during an outage,
 * an unmatched route) is not proof: taking it as one would mark every service
 * missing, and the syncer would delete and re-create each.
 */
export function isServiceMissing(err: unknown, id: string): boolean {
  return isFault(err, 'notFoundError') && err.details === `Object "Service" with key "${id}" does not exist`;
}

/** Whether `s` needs a GET now: we believe it registered, and nothing proved that recently. */
function needsCheck(s: LocalService | undefined, now: number, freshMs: number): s is LocalService {
  return s !== undefined && s.registered !== null && !s.removing && (s.confirmedAt === null || now - s.confirmedAt >= freshMs);
}

/**
 * True when the registry no longer holds the service (its 404 fault), and nothing
 * registered it while we asked: the entry is then marked unregistered.
 * A registration, update or heartbeat that lands meanwhile changes
 * `confirmedAt` (or `registered`), so the answer may predate it: not missing.
 */
async function checkOne(opts: ResyncOptions, s: LocalService, signal: AbortSignal): Promise<boolean> {
  const { registered, confirmedAt } = s;
  try {
    await opts.registry.getService(opts.tenant, s.spec.id, signal);
    return false;
  } catch (err) {
    if (!isServiceMissing(err, s.spec.id)) {
      if (!signal.aborted) opts.onError(err);
      return false;
    }
  }
  // The entry itself too: one pruned and added again while we asked is another registration.
  if (opts.services.get(s.spec.id) !== s || s.registered !== registered || s.confirmedAt !== confirmedAt || s.removing) return false;
  opts.services.setRegistered(s.spec.id, null);
  opts.onMissing(s.spec.id);
  return true;
}

export interface RoundTiming {
  /** The checks are spread over this long (0: all at once). */
  spreadMs: number;
  /** A service the registry confirmed (registration, update, own heartbeat) this recently is not checked. */
  freshMs: number;
}

/**
 * One round of anti-entropy, Consul-style: only this agent's own services
 * are compared (one `GET /services/{id}` each), never the tenant's list, so
 * its cost grows with our services, not with the tenant. The checks are
 * spread over `spreadMs` (check i of n is due at (i + 1) / n of it; 0: at
 * once) with at most RESYNC_CONCURRENCY in flight, and each service is
 * looked at again when its turn comes: one confirmed in the meantime is
 * skipped. Resolves with the ids found missing (already marked unregistered).
 */
export async function resyncRound(opts: ResyncOptions, { spreadMs, freshMs }: RoundTiming, signal: AbortSignal): Promise<string[]> {
  const start = Date.now();
  const ids = [...opts.services.values()].filter((s) => s.registered !== null && !s.removing).map((s) => s.spec.id);
  const missing: string[] = [];
  await inParallel(ids, RESYNC_CONCURRENCY, async (id, i) => {
    await sleep(start + (spreadMs * (i + 1)) / ids.length - Date.now(), signal, true);
    const s = opts.services.get(id);
    if (signal.aborted || !needsCheck(s, Date.now(), freshMs)) return;
    if (await checkOne(opts, s, signal)) missing.push(id);
  });
  return missing;
}

/**
 * Runs rounds until `signal` aborts: each lasts the interval (read anew each
 * round: a reload may change it) × U(0.8, 1.2) (jitter: agents started
 * together drift apart), its checks spread over it; a service confirmed
 * within the interval is not checked. `onRoundEnd` follows each round.
 */
export async function resyncLoop(opts: ResyncOptions, intervalMs: () => number, signal: AbortSignal, onRoundEnd: () => void): Promise<void> {
  while (!signal.aborted) {
    const every = intervalMs();
    const roundMs = every * (0.8 + Math.random() * 0.4);
    const end = Date.now() + roundMs;
    await resyncRound(opts, { spreadMs: roundMs, freshMs: every }, signal);
    await sleep(end - Date.now(), signal, true);
    if (signal.aborted) return;
    onRoundEnd();
  }
}
