import type { Ctx } from './context.js';
import type { Entry, Op, WatchEvent } from '../store/store.js';

/**
 * What this server knows of the keys a configuration write reads (the value,
 * the tenant's last event id, the secret-prefix marker, the unmarked
 * prefixes), so that on etcd a write is one compare-and-put, not a read-only
 * txn then a compare-and-put. It is a guess, never trusted: every key
 * planned from it is compared in the commit (mod revision, or absent), so a
 * change made since (another server, an event appended by a service) fails
 * the commit and the write is planned again from a read. The store's watch
 * keeps the known keys up to date, so that happens only in a race.
 */

/** A key's state: its entry (undefined: absent), and the revision it is known at. */
interface Known {
  entry: Entry | undefined;
  at: number;
}

/** Keys kept at most (four per tenant written to); past this the memo starts over. */
const MAX_KEYS = 40_000;
/** Every key the memo holds is under this prefix (keys.ts: `t/{tenant}/`). */
const WATCHED = 't/';

const memos = new WeakMap<Ctx, ConfigMemo>();

/**
 * The registry's memo, on a shared store (etcd) only: SQLite reads cost
 * microseconds, and there every write is planned from a read as before.
 */
export function configMemoOf(ctx: Ctx, stop: AbortSignal): ConfigMemo | undefined {
  if (!ctx.store.shared) return undefined;
  let memo = memos.get(ctx);
  if (memo === undefined) memos.set(ctx, (memo = new ConfigMemo(ctx, stop)));
  return memo;
}

export class ConfigMemo {
  private readonly known = new Map<string, Known>();
  /** Set once the store's watch is in place; until then nothing is remembered. */
  private watching = false;
  private opening: Promise<void> | null = null;

  /** `stop` is the registry's (RegistryService.close): it ends the watch, so a closed registry's memo is not kept by the store. */
  constructor(
    private readonly ctx: Ctx,
    private readonly stop: AbortSignal,
  ) {}

  /** The entries of `keys` (in order) when every one is known, else undefined. */
  recall(keys: readonly string[]): Array<Entry | undefined> | undefined {
    const out: Array<Entry | undefined> = [];
    for (const key of keys) {
      const k = this.known.get(key);
      if (k === undefined) return undefined;
      out.push(k.entry);
    }
    return out;
  }

  /** Remembers entries read together (their state at the read). */
  read(keys: readonly string[], entries: ReadonlyArray<Entry | undefined>): void {
    if (!this.watching) {
      this.open();
      return;
    }
    keys.forEach((key, i) => this.set(key, { entry: entries[i], at: entries[i]?.modRevision ?? 0 }));
  }

  /**
   * Remembers `keys` after a commit at `revision` that compared each of them
   * unchanged from `entries` and applied `ops`: written keys hold their new
   * value at `revision`, the others what was compared.
   */
  committed(keys: readonly string[], entries: ReadonlyArray<Entry | undefined>, ops: readonly Op[], revision: number): void {
    if (!this.watching) return;
    keys.forEach((key, i) => {
      let k: Known = { entry: entries[i], at: revision };
      for (const op of ops) {
        if (op.type === 'put' && op.key === key) k = { entry: { key, value: op.value, modRevision: revision, lease: 0 }, at: revision };
        else if (op.type === 'delete' && op.key === key) k = { entry: undefined, at: revision };
      }
      this.set(key, k);
    });
  }

  /** Forgets `keys` (a commit planned from them failed its compares). */
  forget(keys: readonly string[]): void {
    for (const key of keys) this.known.delete(key);
  }

  private set(key: string, k: Known): void {
    if (this.known.size >= MAX_KEYS && !this.known.has(key)) this.known.clear();
    this.known.set(key, k);
  }

  /** Opens the watch that keeps known keys current; it ends when the registry or the store closes. */
  private open(): void {
    if (this.opening !== null || this.stop.aborted) return;
    const { store, log } = this.ctx;
    this.opening = store
      .watchedRevision()
      .then((revision) => store.watch(WATCHED, revision + 1, (events) => this.onChanges(events), this.stop))
      .then(
        () => void (this.watching = true),
        (err: unknown) => log.warn({ err }, 'configuration writes plan from reads: the store watch did not open'),
      );
  }

  private onChanges(events: readonly WatchEvent[]): void {
    // The store lost its change stream: nothing known can be trusted.
    if (events.length === 0) {
      this.known.clear();
      return;
    }
    for (const ev of events) {
      const k = this.known.get(ev.key);
      // Older than what is known: the watch is catching up with a commit of ours.
      if (k === undefined || ev.revision <= k.at) continue;
      const entry = ev.type === 'put' && ev.value !== null ? { key: ev.key, value: ev.value, modRevision: ev.revision, lease: 0 } : undefined;
      this.known.set(ev.key, { entry, at: ev.revision });
    }
  }
}
