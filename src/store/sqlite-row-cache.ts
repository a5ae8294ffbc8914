/**
 * Durable rows already read, so a hot key (a service record read by each of
 * its heartbeats) costs a Map lookup instead of a SQLite statement. Only the
 * store writes the file (it holds an exclusive lock), and every committed
 * change passes through its apply step, which forgets the keys it touched:
 * the cache never holds a value older than what a read would return.
 * Absent keys are cached too. Bounded: past MAX_ROWS the oldest entries go first.
 */

/** A cached row: its value and revision, or null when the key has no row. */
export type CachedRow = { readonly value: string; readonly modRevision: number } | null;

const MAX_ROWS = 65_536;

export class RowCache {
  private readonly rows = new Map<string, CachedRow>();

  constructor(private readonly maxRows = MAX_ROWS) {}

  /** The cached row of `key` (null: known absent), or undefined when not cached. */
  get(key: string): CachedRow | undefined {
    return this.rows.get(key);
  }

  set(key: string, row: CachedRow): void {
    if (this.rows.size >= this.maxRows) {
      // Map iterates in insertion order: the first key is the oldest.
      const oldest = this.rows.keys().next();
      if (oldest.done !== true) this.rows.delete(oldest.value);
    }
    this.rows.set(key, row);
  }

  /** Forgets `keys` (changed by a commit). */
  forget(keys: Iterable<string>): void {
    if (this.rows.size === 0) return;
    for (const key of keys) this.rows.delete(key);
  }

  get size(): number {
    return this.rows.size;
  }
}
