import type { Entry } from './store.js';

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
