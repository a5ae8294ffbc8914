/**
 * The embedded engine of `Store`: one SQLite file (better-sqlite3, WAL) for
 * durable keys, plus memory for everything that must not touch the disk.
 *
 * Durability model:
 * - Keys written without a lease are durable: a txn resolves after SQLite
 *   committed it (with `synchronous: 'full'`, after the WAL fsync; with
 *   'normal', a commit survives a process crash but not a power loss).
 * - Group commit: txn() queues; the txns queued within one turn of the event
 *   loop (in practice: every request that arrived while the previous commit
 *   was fsyncing) run together at setImmediate in one SQLite transaction, so
 *   they share one fsync (sqlite-batch.ts). Each keeps its own compare result
 *   and revision; none is visible to reads, watchers or its caller before the
 *   shared COMMIT returned.
 * - Leases and the keys bound to them (put with `lease !== 0`) are VOLATILE:
 *   they live only in this process, so heartbeats (keepAlive, token CAS on a
 *   lease-bound key) never touch the disk. They behave like other keys for
 *   get/range/count/compare/watch. A key is either durable or volatile; a put
 *   moves it (a lease-bound put deletes the durable row in the same txn).
 * - After a restart every lease and every lease-bound key is gone (the
 *   registry gives each live service one heartbeat_timeout of grace for that).
 *   Lease ids embed a persisted per-open epoch, so an id from before a restart
 *   is never granted again and keepAlive on it returns false.
 * - The revision is global. Volatile-only txns bump it in memory; each durable
 *   commit (and a graceful close) persists it, so after reopen the revision is
 *   >= every durable modRevision. After a crash, the revisions of volatile-only
 *   txns since the last durable one are reused; nothing durable holds them.
 * - Watch history is an in-memory ring of recent events; after a reopen (or
 *   once the ring wraps) older revisions answer `store.compacted`.
 * - The file is locked exclusively while the store is open: another process
 *   (a second registry, the sqlite3 shell, a file-level backup) cannot open it
 *   until close().
 *
 * Reads run synchronously inside the async methods and see committed state.
 * A txn is applied (and its watch events delivered) before its promise settles;
 * a txn of a group commit settles once the microtasks its watchers started have
 * run (sqlite-commit-queue.ts): a long-poll it woke replies before its writer.
 *
 * Errors (TetherError codes): `store.locked` from open when another process
 * holds the file, `store.closed` after close(), `store.invalid`
 * for a malformed argument, `store.lease_not_found` for a put bound to an
 * unknown or expired lease, `store.compacted` from watch, `store.failed` when
 * SQLite fails (the cause is attached; nothing of that txn was applied).
 */
import type Database from 'better-sqlite3';
import { TetherError } from '../lib/errors.js';
import { commitBatch, planAlone, toStoreError, type BatchEnv, type Outcome, type PendingTxn } from './sqlite-batch.js';
import { CommitQueue } from './sqlite-commit-queue.js';
import { LeaseTable, type Lease } from './sqlite-leases.js';
import { byteOrder, type KeyState, type Plan } from './sqlite-plan.js';
import type { Statements } from './sqlite-schema.js';
import { RowCache } from './sqlite-row-cache.js';
import { bounds, mergeSorted, VolatileKeys } from './sqlite-volatile.js';
import { prefixEnd } from './store.js';
import type { Compare, Entry, Op, RangeOptions, RangeResult, Store, TxnResult } from './store.js';
import { WatchFeed, type Listener } from './watch-hub.js';

/** The SQLite `Store`; build it with `openSqliteStore` (sqlite.ts). */
export class SqliteStore implements Store {
  /** One process owns the file (it is locked). */
  readonly shared = false;
  private rev: number;
  private persistedRev: number;
  private closed = false;
  private readonly volatile = new VolatileKeys();
  private readonly rows = new RowCache();
  private readonly leases: LeaseTable;
  private readonly feed: WatchFeed;
  private readonly env: BatchEnv;
  private readonly commits: CommitQueue;
  private readonly counts = { txns: 0, commits: 0 };

  /** @internal Use `openSqliteStore`. */
  constructor(
    private readonly db: Database.Database,
    private readonly stmt: Statements,
    watchHistory: number,
    private readonly groupCommit = true,
  ) {
    this.rev = Math.max(stmt.getMeta.get('revision') ?? 0, stmt.maxModRev.get() ?? 0);
    this.persistedRev = this.rev;
    this.feed = new WatchFeed(watchHistory, this.rev);
    this.env = {
      db,
      stmt,
      committed: (key) => this.committed(key),
      volatileKeysIn: (start, end) => this.volatile.keysIn(start, end),
      hasLease: (lease) => this.leases.has(lease),
    };
    this.commits = new CommitQueue(
      (batch) => this.expireLeasesOf(batch),
      (batch) => this.runBatches(batch),
    );
    this.leases = new LeaseTable(
      { get: () => stmt.getMeta.get('lease_epoch'), set: (epoch) => stmt.setMeta.run('lease_epoch', epoch) },
      (lease) => this.deleteLeaseKeys(lease),
    );
  }

  /** Returns the entry of `key`, or undefined. */
  async get(key: string): Promise<Entry | undefined> {
    this.assertOpen();
    return this.read(key);
  }

  /** Several keys at once; everything here is synchronous, so the read is consistent. */
  async getMany(keys: readonly string[]): Promise<Array<Entry | undefined>> {
    this.assertOpen();
    return keys.map((k) => this.read(k));
  }

  /** The committed entry of `key`: memory, then the row cache, then the file. */
  private read(key: string): Entry | undefined {
    const v = this.volatile.get(key);
    if (v !== undefined) return { key, value: v.value, modRevision: v.modRevision, lease: v.lease };
    let row = this.rows.get(key);
    if (row === undefined) {
      try {
        const r = this.stmt.get.get(key);
        row = r === undefined ? null : { value: r.value, modRevision: r.mod_rev };
      } catch (err) {
        throw toStoreError(err, 'get failed');
      }
      this.rows.set(key, row);
    }
    return row === null ? undefined : { key, value: row.value, modRevision: row.modRevision, lease: 0 };
  }

  /** Returns the keys under `prefix` within [from, to) in byte order (limit <= 0 means no limit, as in etcd). */
  async range(prefix: string, opts: RangeOptions = {}): Promise<RangeResult> {
    this.assertOpen();
    const [start, end] = bounds(prefix, opts);
    const limit = opts.limit !== undefined && opts.limit >= 1 ? Math.floor(opts.limit) : Infinity;
    if (start >= end) return { entries: [], revision: this.rev };
    try {
      const rows = this.stmt.range(limit).all(start, end);
      const mem = this.volatile.entriesIn(start, end, limit);
      return { entries: mergeSorted(rows, mem, limit), revision: this.rev };
    } catch (err) {
      throw toStoreError(err, 'range failed');
    }
  }

  /** Returns the number of keys under `prefix`. */
  async count(prefix: string): Promise<number> {
    this.assertOpen();
    const end = prefixEnd(prefix);
    try {
      return this.stmt.count.get(prefix, end)! + this.volatile.count(prefix, end);
    } catch (err) {
      throw toStoreError(err, 'count failed');
    }
  }

  /**
   * Applies `ops` atomically if every compare holds, in the next group
   * commit. Returns the revision after it (the one it was checked at when a
   * compare failed or nothing changed). Fails with `store.lease_not_found`,
   * `store.invalid`, `store.failed`, or `store.closed` (closed before the
   * commit); then nothing was applied.
   */
  txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
    if (this.closed) return Promise.reject(closedError());
    if (this.commits.idle && mayStayInMemory(ops)) {
      try {
        const now = this.applyAlone(compares, ops);
        if (now !== undefined) return now;
      } catch (err) {
        return Promise.reject(toStoreError(err, 'txn failed'));
      }
    }
    return new Promise<TxnResult>((resolve, reject) => this.commits.add({ compares, ops, resolve, reject }));
  }

  /** Grants a lease expiring `ttlMs` from now; returns its id (> 0). Fails with `store.invalid` for a bad TTL. */
  async grantLease(ttlMs: number): Promise<number> {
    this.assertOpen();
    return this.leases.grant(ttlMs);
  }

  /** Pushes the lease's expiry to its TTL from now; false when it is expired or unknown. */
  async keepAlive(lease: number): Promise<boolean> {
    this.assertOpen();
    return this.leases.keepAlive(lease);
  }

  /** Revokes the lease and deletes its keys at a new revision; unknown leases are ignored. */
  async revokeLease(lease: number): Promise<void> {
    this.assertOpen();
    const l = this.leases.get(lease);
    if (l !== undefined) this.leases.end(l);
  }

  /**
   * Delivers buffered events at revision >= `fromRevision` under `prefix`
   * (one call, before this resolves), then live ones (one call per txn) until
   * `signal` aborts. An already-aborted signal resolves without any call.
   * Rejects with `store.compacted` when those revisions are no longer kept.
   * Listeners run synchronously inside the commit, get event objects
   * shared with other watchers (do not mutate them) and must not throw: a
   * throw is re-raised asynchronously, as an uncaught exception.
   */
  async watch(prefix: string, fromRevision: number, listener: Listener, signal: AbortSignal): Promise<void> {
    this.assertOpen();
    this.feed.watch(prefix, fromRevision, listener, signal);
  }

  /** Everything is delivered as it commits: the current revision. */
  async watchedRevision(): Promise<number> {
    this.assertOpen();
    return this.rev;
  }

  /** Returns the current revision. */
  async revision(): Promise<number> {
    this.assertOpen();
    return this.rev;
  }

  /** Bytes of the database file in use (pages minus free pages): what --max-db-bytes compares, freed at once by deletes. */
  dbBytesInUse(): number {
    this.assertOpen();
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    return (pages - free) * (this.db.pragma('page_size', { simple: true }) as number);
  }

  /** Txns applied and durable SQLite commits (fsyncs) since open: their ratio is the group commit's mean group size. */
  commitStats(): { txns: number; commits: number } {
    return { ...this.counts };
  }

  /**
   * Commits the queued txns, stops timers and watchers, persists the
   * revision and closes the database. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.commits.flush();
    this.closed = true;
    this.leases.stop();
    this.feed.close();
    try {
      if (this.rev > this.persistedRev) this.stmt.setMeta.run('revision', this.rev);
    } finally {
      this.db.close();
    }
  }

  // --- group commit -------------------------------------------------------

  /** Overdue leases that a batch's puts bind keys to expire first: their keys' deletions run ahead of it (and the puts fail). */
  private expireLeasesOf(batch: readonly PendingTxn[]): void {
    for (const t of batch) for (const op of t.ops) if (op.type === 'put' && op.lease) this.leases.live(op.lease);
  }

  /** One group commit, or one commit per txn when group commit is off (for measuring it). */
  private runBatches(batch: PendingTxn[]): void {
    if (this.closed) for (const t of batch) t.reject(closedError());
    else if (this.groupCommit) this.runBatch(batch);
    else for (const t of batch) this.runBatch([t]);
  }

  /**
   * A txn that writes no row needs no commit: applied now (as before group
   * commit), unless it turns out to write rows; then undefined.
   */
  private applyAlone(compares: Compare[], ops: Op[]): Promise<TxnResult> | undefined {
    for (const op of ops) if (op.type === 'put' && op.lease) this.leases.live(op.lease);
    const o = planAlone(this.env, { compares, ops, resolve: noop, reject: noop }, this.rev);
    if (o === undefined) return undefined;
    if (o.error !== undefined) return Promise.reject(o.error);
    if (o.plan !== undefined) this.apply(o.plan, o.result.revision);
    this.counts.txns++;
    return Promise.resolve(o.result);
  }

  private runBatch(batch: PendingTxn[]): void {
    let result;
    try {
      result = commitBatch(this.env, batch, this.rev);
    } catch (err) {
      const failure = toStoreError(err, 'commit failed');
      for (const t of batch) t.reject(failure);
      return;
    }
    if (result.durable) {
      this.persistedRev = result.revision;
      this.counts.commits++;
    }
    // Applied (memory, revision, watchers) now; the callers hear of it after the watchers (CommitQueue.later).
    for (const o of result.outcomes) {
      if (o.error === undefined) {
        if (o.plan !== undefined) this.apply(o.plan, o.result.revision);
        this.counts.txns++;
      }
    }
    this.commits.later(() => settle(result.outcomes));
  }

  /** Makes a committed txn visible: memory, revision, then watchers. */
  private apply(plan: Plan, rev: number): void {
    this.rows.forget(plan.changes.keys());
    this.volatile.applyPlan(plan, rev, (id) => this.leases.get(id));
    this.rev = rev;
    this.feed.push(plan.events);
    this.feed.position = rev;
  }

  private committed(key: string): KeyState | undefined {
    const v = this.volatile.get(key);
    if (v !== undefined) return v;
    // The cache holds committed rows only (a batch's own writes are applied, and forgotten here, after its COMMIT).
    const row = this.rows.get(key);
    if (row !== undefined) return row === null ? undefined : { modRevision: row.modRevision, lease: 0 };
    const modRevision = this.stmt.modRev.get(key);
    return modRevision === undefined ? undefined : { modRevision, lease: 0 };
  }

  /**
   * An ended lease's keys go in one txn at a new revision, committed at once
   * (volatile-only: no fsync) so that reads right after an expiry, a revoke
   * or a failed keepAlive no longer see them.
   */
  private deleteLeaseKeys(l: Lease): void {
    if (l.keys.size === 0) return;
    const ops: Op[] = [...l.keys].sort(byteOrder).map((key) => ({ type: 'delete', key }));
    this.commits.add({ compares: [], ops, resolve: noop, reject: reraise });
    this.commits.flush();
  }

  private assertOpen(): void {
    if (this.closed) throw closedError();
  }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** Lease-bound puts and deletes may touch memory only (a heartbeat's token swap, an expiry); anything else writes rows. */
function mayStayInMemory(ops: readonly Op[]): boolean {
  return ops.length > 0 && ops.every((op) => op.type === 'delete' || (op.type === 'put' && op.lease !== undefined && op.lease !== 0));
}

function closedError(): TetherError {
  return new TetherError('store.closed', 'the store is closed');
}

const noop = (): void => {};

function settle(outcomes: readonly Outcome[]): void {
  for (const o of outcomes) {
    if (o.error !== undefined) o.txn.reject(o.error);
    else o.txn.resolve(o.result);
  }
}

/** A failed lease expiry has no caller to tell: a bug, re-raised asynchronously. */
function reraise(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}
