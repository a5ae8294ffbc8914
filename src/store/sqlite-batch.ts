import type Database from 'better-sqlite3';
import { TetherError } from '../lib/errors.js';
import { comparesHold, diskWritesOf, planOps, type KeySource, type KeyState, type Plan } from './sqlite-plan.js';
import { writeRows, type DiskWrite, type Statements } from './sqlite-schema.js';
import type { Compare, Op, TxnResult } from './store.js';

/**
 * Group commit: the txns queued since the last commit run in order inside
 * ONE SQLite transaction, so they share one WAL fsync. Each sees the writes
 * of the ones before it (SQLite reads inside the transaction, plus an overlay
 * for keys whose in-memory state has not been applied yet), gets its own
 * compare result and revision, and fails on its own (its writes sit in a
 * savepoint). Memory (volatile keys, revision, watchers) is applied by the
 * store only after COMMIT returned, so nothing is visible before it is durable.
 */

/** A queued `txn()` call. */
export interface PendingTxn {
  compares: readonly Compare[];
  ops: readonly Op[];
  resolve: (result: TxnResult) => void;
  reject: (err: unknown) => void;
}

export type Outcome =
  | { txn: PendingTxn; result: TxnResult; plan?: Plan; error?: undefined }
  | { txn: PendingTxn; error: TetherError };

export interface BatchResult {
  outcomes: Outcome[];
  /** The revision after the last txn of the batch. */
  revision: number;
  /** True when the batch wrote rows (and the revision) to disk. */
  durable: boolean;
}

/** What the batch reads of the store's committed state. */
export interface BatchEnv {
  db: Database.Database;
  stmt: Statements;
  /** A key's committed state (memory first, then disk). */
  committed(key: string): KeyState | undefined;
  /** Committed volatile keys in [start, end). */
  volatileKeysIn(start: string, end: string): string[];
  hasLease(lease: number): boolean;
}

/**
 * Plans and writes `batch` in order from revision `startRev`, then commits.
 * Per-txn failures (compares, `store.invalid`, `store.lease_not_found`, a
 * failed row write) are outcomes; throws (with everything rolled back) only
 * when the transaction itself cannot commit.
 */
export function commitBatch(env: BatchEnv, batch: readonly PendingTxn[], startRev: number): BatchResult {
  const view = new BatchView(env);
  const tx = new DiskTxn(env, batch.length > 1);
  const outcomes: Outcome[] = [];
  let rev = startRev;
  try {
    for (const txn of batch) {
      const outcome = runOne(view, tx, txn, rev);
      if (outcome.error === undefined) rev = outcome.result.revision;
      outcomes.push(outcome);
    }
    return { outcomes, revision: rev, durable: tx.commit(rev) };
  } catch (err) {
    tx.abort();
    throw err;
  }
}

/**
 * Plans `txn` against committed state alone, for a txn that may touch only
 * memory (heartbeats: a token compare-and-swap on a lease-bound key). Returns
 * its outcome when it writes no row, so it can be applied at once, without
 * waiting for a group commit; undefined when it writes rows.
 */
export function planAlone(env: BatchEnv, txn: PendingTxn, rev: number): Outcome | undefined {
  const view = new BatchView(env);
  try {
    if (!comparesHold(view, txn.compares)) return { txn, result: { succeeded: false, revision: rev } };
    const plan = planOps(view, txn.ops, rev + 1);
    if (plan.events.length === 0) return { txn, result: { succeeded: true, revision: rev } };
    if (diskWritesOf(plan).length > 0) return undefined;
    return { txn, result: { succeeded: true, revision: rev + 1 }, plan };
  } catch (err) {
    return { txn, error: toStoreError(err, 'txn failed') };
  }
}

function runOne(view: BatchView, tx: DiskTxn, txn: PendingTxn, rev: number): Outcome {
  try {
    if (!comparesHold(view, txn.compares)) return { txn, result: { succeeded: false, revision: rev } };
    const plan = planOps(view, txn.ops, rev + 1);
    if (plan.events.length === 0) return { txn, result: { succeeded: true, revision: rev } };
    const disk = diskWritesOf(plan);
    if (disk.length > 0) tx.write(disk, rev + 1);
    view.record(plan, rev + 1);
    return { txn, result: { succeeded: true, revision: rev + 1 }, plan };
  } catch (err) {
    tx.check();
    return { txn, error: toStoreError(err, 'txn failed') };
  }
}

/** Committed state seen through the batch's own changes so far. */
class BatchView implements KeySource {
  /** null: deleted by an earlier txn of the batch. */
  private readonly overlay = new Map<string, KeyState | null>();
  /** Committed states read so far (null: absent). */
  private readonly committed = new Map<string, KeyState | null>();

  constructor(private readonly env: BatchEnv) {}

  current(key: string): KeyState | undefined {
    const o = this.overlay.get(key);
    if (o !== undefined) return o ?? undefined;
    // Committed state cannot change while the batch runs (memory is applied
    // after COMMIT, and the batch's own writes are in the overlay): a compare
    // and the op on the same key read the disk once.
    let c = this.committed.get(key);
    if (c === undefined) {
      c = this.env.committed(key) ?? null;
      this.committed.set(key, c);
    }
    return c ?? undefined;
  }

  candidates(start: string, end: string): string[] {
    const keys = [...this.env.stmt.keys.all(start, end), ...this.env.volatileKeysIn(start, end)];
    for (const [key, s] of this.overlay) if (s !== null && key >= start && key < end) keys.push(key);
    return keys;
  }

  hasLease(lease: number): boolean {
    return this.env.hasLease(lease);
  }

  /** Makes a planned txn's result visible to the txns after it. */
  record(plan: Plan, rev: number): void {
    for (const [key, c] of plan.changes) {
      if (c.dirty) this.overlay.set(key, c.exists ? { modRevision: rev, lease: c.lease } : null);
    }
  }
}

/** The batch's SQLite transaction, opened at its first row write. */
class DiskTxn {
  private open = false;
  /** A savepoint could not be undone: the whole batch must fail. */
  private broken: unknown;

  constructor(
    private readonly env: BatchEnv,
    /** One savepoint per txn, so a failed write undoes only its own txn (not needed for a batch of one). */
    private readonly savepoints: boolean,
  ) {}

  write(rows: readonly DiskWrite[], rev: number): void {
    const { stmt } = this.env;
    if (!this.open) {
      stmt.begin.run();
      this.open = true;
    }
    if (!this.savepoints) {
      try {
        writeRows(stmt, rows, rev);
      } catch (err) {
        this.abort();
        throw err;
      }
      return;
    }
    stmt.savepoint.run();
    try {
      writeRows(stmt, rows, rev);
      stmt.release.run();
    } catch (err) {
      this.undoSavepoint();
      throw err;
    }
  }

  /** Throws when the batch can no longer commit. */
  check(): void {
    if (this.broken !== undefined) throw this.broken;
  }

  /** Persists the revision and commits; false when nothing was written (no transaction). */
  commit(rev: number): boolean {
    this.check();
    if (!this.open) return false;
    this.env.stmt.setMeta.run('revision', rev);
    this.env.stmt.commit.run();
    this.open = false;
    return true;
  }

  /** Rolls back whatever is open (a failed COMMIT may already have). */
  abort(): void {
    this.open = false;
    if (this.env.db.inTransaction) this.env.stmt.rollback.run();
  }

  private undoSavepoint(): void {
    try {
      this.env.stmt.rollbackTo.run();
      this.env.stmt.release.run();
    } catch (err) {
      this.broken = err;
    }
  }
}

/** Passes TetherErrors through; wraps anything else (SQLite) as `store.failed`. */
export function toStoreError(err: unknown, message: string): TetherError {
  if (err instanceof TetherError) return err;
  return new TetherError('store.failed', `${message}: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
  });
}
