import type { Counter } from 'prom-client';
import { Backoff, sleep } from '../lib/backoff.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../observability/logger.js';
import type { Queues } from '../queues/queues.js';
import type { Registry } from '../registry/registry.js';
import type { RegistryEvent } from '../registry/types.js';
import type { Store } from '../store/store.js';
import { deliver } from './deliver.js';
import { routeKeys, type CursorRecord } from './keys.js';
import type { EventRoute } from './types.js';
import { routeMatches } from './validate.js';

/** Feed events read per round. */
const PAGE = 100;
/** Operations of a delivery txn besides one put per message: the counter and the cursor. */
const TXN_EXTRA_OPS = 2;
/**
 * Bytes of messages per delivery txn: etcd refuses a request over
 * `--max-request-bytes` (1.5 MiB by default); the queues' poster caps its groups the same way.
 */
export const BATCH_MAX_BYTES = 1_000_000;
/** Bytes of a stored message besides its body (ids, times, field names). */
const RECORD_OVERHEAD = 110;
/** While only non-matching events pass, the stored cursor is moved at most this often (it is progress shown, not needed for correctness). */
const SKIP_WRITE_MS = 5_000;

export interface RunnerShared {
  store: Store;
  registry: Registry;
  queues: Queues;
  clock: Clock;
  log: Logger;
  waitSeconds: number;
  delivered: Counter<'route'>;
  failed: Counter<'route'>;
}

/**
 * Follows one route: read the cursor, long-poll the tenant's feed from it
 * (the registry's own `events?wait=`, which also runs its expiry, so
 * timeouts are seen), deliver the page's matching events and move the
 * cursor past them in one txn (as many as one txn holds: the store's
 * txn-op limit and a byte cap; the rest in the next rounds). Failures are counted and retried
 * with backoff; the cursor only moves with a written page, so nothing is
 * skipped. Ends when stopped or when the route's cursor is gone (deleted).
 */
export class RouteRunner {
  private readonly ctl = new AbortController();
  private running: Promise<void> = Promise.resolve();
  private readonly label: string;
  /**
   * Where this runner reads from: past the stored cursor by the non-matching
   * events it skipped without a write, valid while the stored cursor is still
   * at `storedRev` (anyone moving it resets this to the stored marker).
   */
  private local: { marker: string | null; storedRev: number } | null = null;
  private lastWrite = 0;
  /**
   * Matching events per delivery now: halved after a delivery the store
   * refused (not a compare that lost: a txn too big, a store outage), down to
   * one, and doubled back after each success up to the store's capacity.
   */
  private batch: number;

  constructor(
    private readonly shared: RunnerShared,
    private readonly tenant: string,
    /** Replaced when the route is set again (new filter, same cursor). */
    public route: EventRoute,
  ) {
    this.label = `${tenant}/${route.id}`;
    this.batch = this.capacity();
  }

  /** Messages one delivery txn can carry: the store's txn-op limit (etcd's `--max-txn-ops`) less the counter and cursor. */
  private capacity(): number {
    const max = this.shared.store.maxTxnOps;
    return Math.max(1, Math.min(PAGE, max === undefined ? PAGE : max - TXN_EXTRA_OPS));
  }

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.ctl.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    const signal = this.ctl.signal;
    const backoff = new Backoff({ initialMs: 200, maxMs: 10_000, jitter: 0.5 });
    while (!signal.aborted) {
      try {
        if (await this.round(signal)) return;
        backoff.reset();
      } catch (err) {
        if (signal.aborted) return;
        this.shared.failed.inc({ route: this.label });
        this.shared.log.warn({ err, route: this.label }, 'event route delivery failed; retrying');
        await sleep(backoff.next(), signal);
      }
    }
  }

  /**
   * One feed page; true when the route is gone. Pages with nothing for this
   * route move only the in-memory position (a write per event per route
   * would be the deliverer's main cost); the next delivery's txn, which
   * compares the stored cursor's revision, moves the stored one past them.
   * Skipping is safe: a server that restarts, or another server, re-reads
   * the skipped events from the stored cursor and skips them too.
   */
  private async round(signal: AbortSignal): Promise<boolean> {
    const { store, registry, clock } = this.shared;
    const cursor = await store.get(routeKeys.cursor(this.tenant, this.route.id));
    if (cursor === undefined) return true;
    if (this.local === null || this.local.storedRev !== cursor.modRevision) {
      this.local = { marker: (JSON.parse(cursor.value) as CursorRecord).m, storedRev: cursor.modRevision };
    }
    const from = this.local.marker;
    const page = await registry.listEvents(this.tenant, { marker: from ?? undefined, limit: PAGE, wait: this.shared.waitSeconds }, signal);
    // The marker is inclusive: the cursor's own event comes back first.
    const events = from !== null && page.values[0]?.id === from ? page.values.slice(1) : page.values;
    const last = events[events.length - 1];
    if (last === undefined || signal.aborted) return false;
    const route = this.route;
    const matching = events.filter((ev) => routeMatches(route, ev));
    if (matching.length === 0 && clock.now() - this.lastWrite < SKIP_WRITE_MS) {
      this.local.marker = last.id;
      return false;
    }
    const taken = takeBatch(matching, this.batch);
    // Not all taken: the cursor stops at the last one taken, and the next round re-reads from there.
    const upTo = taken.length < matching.length ? (taken[taken.length - 1] as RegistryEvent).id : last.id;
    let revision: number | null;
    try {
      revision = await deliver(this.shared, this.tenant, route, cursor, taken, upTo);
    } catch (err) {
      // Refused (too big for one txn, or the store failed): smaller next time, so no page can stop the route for good.
      this.batch = Math.max(1, Math.floor(Math.min(this.batch, taken.length) / 2));
      throw err;
    }
    if (revision === null) {
      this.local = null;
      return false;
    }
    this.batch = Math.min(this.capacity(), this.batch * 2);
    this.local = { marker: upTo, storedRev: revision };
    this.lastWrite = clock.now();
    if (taken.length > 0) this.shared.delivered.inc({ route: this.label }, taken.length);
    return false;
  }
}

/** The first events that fit one delivery txn: at most `max`, at most BATCH_MAX_BYTES of bodies (always at least one). */
export function takeBatch(events: RegistryEvent[], max: number): RegistryEvent[] {
  let bytes = 0;
  let take = 0;
  for (const ev of events) {
    if (take >= max) break;
    bytes += Buffer.byteLength(JSON.stringify(ev)) + RECORD_OVERHEAD;
    if (take > 0 && bytes > BATCH_MAX_BYTES) break;
    take++;
  }
  return events.slice(0, take);
}
