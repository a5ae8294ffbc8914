/**
 * The embedded engine of `Store` (SQLite, better-sqlite3, WAL): how it is
 * opened. What it does, and its durability model, are in sqlite-store.ts.
 */
import Database from 'better-sqlite3';
import { TetherError } from '../lib/errors.js';
import { toStoreError } from './sqlite-batch.js';
import { prepareStatements, SCHEMA } from './sqlite-schema.js';
import { SqliteStore } from './sqlite-store.js';

export { SqliteStore };

/** Options of `openSqliteStore`. */
export interface SqliteStoreOptions {
  /** Database file, or ':memory:'. */
  path: string;
  /** SQLite `synchronous` pragma: 'full' (default) fsyncs every commit. */
  synchronous?: 'full' | 'normal';
  /** Watch events kept in memory for watch-from-revision (default 10_000). */
  watchHistory?: number;
  /**
   * Group commit (default true). False commits (and fsyncs) each txn on its
   * own, as before group commit: for measuring its gain, not for production.
   */
  groupCommit?: boolean;
}

const BUSY_TIMEOUT_MS = 5_000;
// Watchers start from a revision they have just read, so deep history is never
// needed; a small ring keeps heartbeat churn out of the old generation (GC).
const DEFAULT_WATCH_HISTORY = 10_000;

/**
 * Opens (creating if needed) the database at `opts.path` (':memory:' allowed).
 * Fails with `store.invalid` on bad options, `store.locked` when another
 * process holds the file (after the 5 s busy timeout) and `store.failed` when
 * SQLite cannot open or initialise it.
 */
export function openSqliteStore(opts: SqliteStoreOptions): SqliteStore {
  const watchHistory = opts.watchHistory ?? DEFAULT_WATCH_HISTORY;
  if (!Number.isInteger(watchHistory) || watchHistory < 0) {
    throw new TetherError('store.invalid', `watchHistory must be a non-negative integer, got ${watchHistory}`);
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(opts.path, { timeout: BUSY_TIMEOUT_MS });
    // Exclusive locking: this process is the only user of the file. Every
    // read then skips the shared-memory WAL lock (several times cheaper gets
    // on the heartbeat path), and a second registry opening the same data
    // directory fails instead of corrupting the in-memory revision and leases.
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.exec(SCHEMA);
    return new SqliteStore(db, prepareStatements(db), watchHistory, opts.groupCommit !== false);
  } catch (err) {
    db?.close();
    if (isSqliteBusy(err)) {
      throw new TetherError('store.locked', `SQLite store at ${opts.path} is in use by another process`, { cause: err });
    }
    throw toStoreError(err, `cannot open SQLite store at ${opts.path}`);
  }
}

function isSqliteBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}
