import { hasCode } from '../lib/errors.js';
import type { Store, WatchEvent } from '../store/store.js';

/** A fixed abort reason: abort() without one allocates a DOMException each time. */
const CLOSED = Object.freeze({ closed: true });

interface Waiter {
  /** Wakes on a change at this revision or later. */
  from: number;
  wake: () => void;
  fail: (err: unknown) => void;
}

/** One store watch on a tenant's events, shared by every poll of that tenant waiting on this server. */
interface TenantWatch {
  readonly waiters: Set<Waiter>;
  /** The revision the store watch was opened from: changes before it were not seen. */
  readonly start: number;
  /** Highest revision of a change this watch delivered (0: none yet). */
  seen: number;
  readonly stop: AbortController;
}

/**
 * Long-poll waits on the events feed. A waiting poll costs one small record,
 * a timer and one abort listener; the store watch (and its abort plumbing)
 * is per tenant, opened by the first waiter and closed when the last one
 * leaves, so 10,000 followers of a tenant hold one watch, not 10,000.
 */
export class EventWaits {
  private readonly tenants = new Map<string, TenantWatch>();

  /**
   * @param stopped aborted when the registry closes: wakes every waiter (one
   *   listener here instead of one per poll); the caller then throws.
   */
  constructor(
    private readonly store: Store,
    private readonly prefixOf: (tenant: string) => string,
    private readonly stopped?: AbortSignal,
  ) {
    stopped?.addEventListener('abort', () => this.wakeAll(), { once: true });
  }

  /**
   * Resolves when an event of `tenant` is committed at or after `from`, after
   * `ms`, or on abort. It may also resolve early with nothing new (the watch
   * started after `from`, or history was compacted): re-reading is always safe.
   */
  wait(tenant: string, from: number, ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted || this.stopped?.aborted) return Promise.resolve();
    const tw = this.tenants.get(tenant) ?? this.open(tenant, from);
    if (from < tw.start || tw.seen >= from) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const leave = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', waiter.wake);
        tw.waiters.delete(waiter);
        if (tw.waiters.size === 0) this.close(tenant, tw);
      };
      const waiter: Waiter = {
        from,
        wake: () => {
          leave();
          resolve();
        },
        fail: (err) => {
          leave();
          reject(err);
        },
      };
      const timer = setTimeout(waiter.wake, ms);
      signal?.addEventListener('abort', waiter.wake, { once: true });
      tw.waiters.add(waiter);
    });
  }

  /** Opens the tenant's watch from `from` (history since `from` is delivered at once). */
  private open(tenant: string, from: number): TenantWatch {
    const tw: TenantWatch = { waiters: new Set(), start: from, seen: 0, stop: new AbortController() };
    this.tenants.set(tenant, tw);
    this.store.watch(this.prefixOf(tenant), from, (events) => this.deliver(tw, events), tw.stop.signal).catch((err: unknown) => {
      this.close(tenant, tw);
      // History trimmed under us: every waiter re-reads. Anything else (store closed) fails them.
      for (const w of [...tw.waiters]) {
        if (hasCode(err, 'store.compacted')) w.wake();
        else w.fail(err);
      }
    });
    return tw;
  }

  private deliver(tw: TenantWatch, events: WatchEvent[]): void {
    // An empty batch means the store lost track of changes: everyone re-reads.
    let revision = Number.MAX_SAFE_INTEGER;
    if (events.length > 0) {
      revision = 0;
      for (const e of events) if (e.revision > revision) revision = e.revision;
      if (revision > tw.seen) tw.seen = revision;
    }
    for (const w of [...tw.waiters]) if (w.from <= revision) w.wake();
  }

  private wakeAll(): void {
    for (const tw of [...this.tenants.values()]) for (const w of [...tw.waiters]) w.wake();
  }

  private close(tenant: string, tw: TenantWatch): void {
    if (this.tenants.get(tenant) === tw) this.tenants.delete(tenant);
    tw.stop.abort(CLOSED);
  }
}
