import type { Lease } from './sqlite-leases.js';
import type { Plan } from './sqlite-plan.js';
import type { RawRow } from './sqlite-schema.js';
import { prefixEnd, type Entry, type RangeOptions } from './store.js';

/** A lease-bound key's state; it lives only in memory. */
export interface VolatileEntry {
  value: string;
  modRevision: number;
  lease: number;
}

/** Above this many removals, one filter pass beats one splice per key. */
const SPLICE_LIMIT = 32;

/**
 * Lease-bound keys: a Map for point lookups plus one sorted key array for
 * ranges (binary search, so a range never scans unrelated keys). A sorted
 * array rather than a per-directory index because it answers any [from, to)
 * and prefixes that do not end in '/'; it only changes when a key becomes or
 * stops being volatile (register/expire), never on a heartbeat.
 */
export class VolatileKeys {
  private readonly byKey = new Map<string, VolatileEntry>();
  private sorted: string[] = [];

  get(key: string): VolatileEntry | undefined {
    return this.byKey.get(key);
  }

  /** Inserts or replaces the entry of `key`. */
  set(key: string, entry: VolatileEntry): void {
    if (!this.byKey.has(key)) this.sorted.splice(this.lowerBound(key), 0, key);
    this.byKey.set(key, entry);
  }

  /** Removes `keys` (absent ones are ignored). */
  deleteAll(keys: readonly string[]): void {
    if (keys.length <= SPLICE_LIMIT) {
      for (const key of keys) {
        if (this.byKey.delete(key)) this.sorted.splice(this.lowerBound(key), 1);
      }
      return;
    }
    for (const key of keys) this.byKey.delete(key);
    this.sorted = this.sorted.filter((key) => this.byKey.has(key));
  }

  /** Applies a committed plan's changes of lease-bound keys (and keys leaving memory) at `rev`, keeping each lease's key set. */
  applyPlan(plan: Plan, rev: number, leaseOf: (id: number) => Lease | undefined): void {
    const removed: string[] = [];
    for (const [key, c] of plan.changes) {
      if (!c.dirty) continue;
      const old = c.origin === 'mem' ? this.get(key) : undefined;
      const nextLease = c.exists ? c.lease : 0;
      if (old !== undefined && old.lease !== nextLease) leaseOf(old.lease)?.keys.delete(key);
      if (nextLease !== 0) {
        this.set(key, { value: c.value, modRevision: rev, lease: nextLease });
        leaseOf(nextLease)?.keys.add(key);
      } else if (old !== undefined) {
        removed.push(key);
      }
    }
    if (removed.length > 0) this.deleteAll(removed);
  }

  /** Number of keys in [start, end). */
  count(start: string, end: string): number {
    return Math.max(0, this.lowerBound(end) - this.lowerBound(start));
  }

  /** Keys in [start, end), in byte order. */
  keysIn(start: string, end: string): string[] {
    return this.sorted.slice(this.lowerBound(start), this.lowerBound(end));
  }

  /** Entries in [start, end), in byte order, at most `limit`. */
  entriesIn(start: string, end: string, limit: number): Entry[] {
    const out: Entry[] = [];
    for (let i = this.lowerBound(start); i < this.sorted.length && out.length < limit; i++) {
      const key = this.sorted[i]!;
      if (key >= end) break;
      const e = this.byKey.get(key)!;
      out.push({ key, value: e.value, modRevision: e.modRevision, lease: e.lease });
    }
    return out;
  }

  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The [start, end) of a range: `from`/`to` clamped to the keys under `prefix`. */
export function bounds(prefix: string, opts: RangeOptions): [string, string] {
  const end = prefixEnd(prefix);
  const start = opts.from !== undefined && opts.from > prefix ? opts.from : prefix;
  return [start, opts.to !== undefined && opts.to < end ? opts.to : end];
}

/** Merges durable rows and volatile entries (each sorted, disjoint) in byte order. */
export function mergeSorted(rows: RawRow[], mem: Entry[], limit: number): Entry[] {
  const out: Entry[] = [];
  let i = 0;
  let j = 0;
  while (out.length < limit && (i < rows.length || j < mem.length)) {
    const row = rows[i];
    const m = mem[j];
    if (row !== undefined && (m === undefined || row[0] < m.key)) {
      out.push({ key: row[0], value: row[1], modRevision: row[2], lease: 0 });
      i++;
    } else {
      out.push(m!);
      j++;
    }
  }
  return out;
}
