/**
 * The storage contract under RegistryService, shaped like etcd v3 so that the
 * same registry semantics run on SQLite (one host) and on an etcd cluster:
 * ordered string keys, a global revision, atomic compare-then-write
 * transactions, leases with expiry, and watch from a revision.
 *
 * Keys are ASCII; ranges are in byte order. Values are strings (JSON).
 */

export interface Entry {
  key: string;
  value: string;
  /** Revision of the transaction that last wrote this key. */
  modRevision: number;
  /** Lease the key is bound to, or 0. */
  lease: number;
}

export type Compare =
  /** The key does not exist. */
  | { key: string; op: 'absent' }
  /** The key exists and was last written at exactly this revision. */
  | { key: string; op: 'modRevision'; revision: number };

export type Op =
  /** Write a key. With `lease` (non-zero), the key is deleted when the lease expires or is revoked. */
  | { type: 'put'; key: string; value: string; lease?: number }
  | { type: 'delete'; key: string }
  /** Delete every key in [start, end). */
  | { type: 'deleteRange'; start: string; end: string };

export interface TxnResult {
  /** False when a compare failed; then nothing was written. */
  succeeded: boolean;
  /** The store revision after the transaction (unchanged when it did not write). */
  revision: number;
}

export interface RangeResult {
  entries: Entry[];
  /** The revision the range was read at; watch from revision + 1 to miss nothing after it. */
  revision: number;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  /** The new value for puts; null for deletes. */
  value: string | null;
  revision: number;
}

export interface TxnOptions {
  /**
   * The write may wait a moment to share one request with others: on etcd a
   * call costs far more CPU than a write in it, and heartbeats come in
   * crowds. Only under load and a few ms at most (etcd-batch.ts, Linger);
   * writes without it never wait. Engines that do not batch (SQLite) ignore it.
   */
  coalesce?: boolean;
}

export interface RangeOptions {
  /** Inclusive start key (defaults to `prefix`). */
  from?: string;
  /** Exclusive end key (defaults to the end of `prefix`). */
  to?: string;
  limit?: number;
}

export interface Store {
  /**
   * True when other processes write to the same data (etcd: several registry
   * servers), so in-memory indexes must follow the store's changes.
   */
  readonly shared: boolean;
  /**
   * Most operations one txn may carry (etcd's `--max-txn-ops`); undefined
   * when the engine has no such limit. Callers that build large txns size
   * them from it (queue posts: spec A1's count limit).
   */
  readonly maxTxnOps?: number | undefined;
  get(key: string): Promise<Entry | undefined>;
  /** Several keys in one consistent read (one round trip on etcd), in the order asked. */
  getMany(keys: readonly string[]): Promise<Array<Entry | undefined>>;
  /** Keys under `prefix` in byte order, optionally from `from` (inclusive), at most `limit`. */
  range(prefix: string, opts?: RangeOptions): Promise<RangeResult>;
  count(prefix: string): Promise<number>;
  /**
   * Atomically: if every compare holds, apply every op and return succeeded;
   * otherwise apply nothing. Resolves only after the write is durable
   * (lease-bound keys excepted: see the engine's notes).
   */
  txn(compares: Compare[], ops: Op[], opts?: TxnOptions): Promise<TxnResult>;

  /** Grants a lease that expires `ttlMs` from now unless kept alive. Returns its id (> 0). */
  grantLease(ttlMs: number): Promise<number>;
  /** Pushes the lease's expiry to its granted TTL from now (as etcd does). False when it has expired or is unknown. */
  keepAlive(lease: number): Promise<boolean>;
  /** Revokes the lease, deleting its keys. Unknown leases are ignored. */
  revokeLease(lease: number): Promise<void>;

  /**
   * Calls `listener` with the changes to keys under `prefix` at revisions
   * >= `fromRevision`, in revision order, until `signal` aborts. Resolves once
   * the watch is in place (past changes already delivered, or, on a remote
   * engine, on their way). Rejects with TetherError `store.compacted` when
   * `fromRevision` is older than the store keeps. An empty batch means the
   * store lost track of changes (its change stream broke and the history is
   * gone): the watcher must re-read what it watches.
   */
  watch(prefix: string, fromRevision: number, listener: (events: WatchEvent[]) => void, signal: AbortSignal): Promise<void>;

  /** Current revision. */
  revision(): Promise<number>;
  /**
   * A revision to watch from (plus one) without missing anything: every
   * change up to it has been delivered to watchers, so a read made after this
   * call sees it. Free where `revision()` costs a round trip (etcd: the watch
   * stream's position); the current revision elsewhere.
   */
  watchedRevision(): Promise<number>;
  /** Stops timers and releases the storage. Idempotent. */
  close(): Promise<void>;
}

/**
 * Keys under this prefix (and any key sorting after `~`) may be left out of
 * watches: an engine shared by several processes (etcd) does not stream their
 * changes, so state rewritten at a high rate (heartbeats) costs no watch event
 * on every registry server. Nothing may watch them; read them instead.
 */
export const UNWATCHED_PREFIX = '~/';
/** Watches on a shared engine cover the keys below this one. */
export const WATCHED_END = '~';

/** The exclusive end of the key range of everything under `prefix`. */
export function prefixEnd(prefix: string): string {
  return `${prefix}\uffff`;
}
