/**
 * Durable rows already read, so a hot key (a service record read by each of
 * its heartbeats) costs a Map lookup instead of a SQLite statement. Only the
 * store writes the file (it holds an exclusive lock), and every committed
 * change passes through its apply step, which forgets the keys it touched:
 * the cache never holds a value older than what a read would return.
 * Absent keys are cached too. Bounded in entries and in value characters
 * (configuration values may be kilobytes each): past either bound the oldest
 * entries go first.
 */

/** A cached row: its value and revision, or null when the key has no row. */
export type CachedRow = { readonly value: string; readonly modRevision: number } | null;

const MAX_ROWS = 65_536;
const MAX_CHARS = 8 * 1024 * 1024;

export class RowCache {
  private readonly rows = new Map<string, CachedRow>();
  private chars = 0;

  constructor(
    private readonly maxRows = MAX_ROWS,
    private readonly maxChars = MAX_CHARS,
  ) {}

  /** The cached row of `key` (null: known absent), or undefined when not cached. */
  get(key: string): CachedRow | undefined {
    return this.rows.get(key);
  }

  set(key: string, row: CachedRow): void {
    const size = sizeOf(key, row);
    if (size > this.maxChars) return;
    this.delete(key);
    // Map iterates in insertion order: the first key is the oldest.
    for (const oldest of this.rows.keys()) {
      if (this.rows.size < this.maxRows && this.chars + size <= this.maxChars) break;
      this.delete(oldest);
    }
    this.rows.set(key, row);
    this.chars += size;
  }

  /** Forgets `keys` (changed by a commit). */
  forget(keys: Iterable<string>): void {
    if (this.rows.size === 0) return;
    for (const key of keys) this.delete(key);
  }

  get size(): number {
    return this.rows.size;
  }

  /** Characters of the keys and values held. */
  get heldChars(): number {
    return this.chars;
  }

  private delete(key: string): void {
    const row = this.rows.get(key);
    if (row === undefined) return;
    this.rows.delete(key);
    this.chars -= sizeOf(key, row);
  }
}

function sizeOf(key: string, row: CachedRow): number {
  return key.length + (row === null ? 0 : row.value.length);
}
