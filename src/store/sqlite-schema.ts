import type Database from 'better-sqlite3';

/** The SQLite store's tables and prepared statements. */

export interface Row {
  key: string;
  value: string;
  mod_rev: number;
}

/** A range row in raw mode: [key, value, mod_rev]. */
export type RawRow = [key: string, value: string, modRev: number];

/** A durable change: upsert when `value` is a string, delete when null. */
export interface DiskWrite {
  key: string;
  value: string | null;
}

export const SCHEMA = `
  CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    mod_rev INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  ) WITHOUT ROWID;
`;

type Stmt<P extends unknown[], R = unknown> = Database.Statement<P, R>;

export interface Statements {
  get: Stmt<[string], Omit<Row, 'key'>>;
  modRev: Stmt<[string], number>;
  /** The range statement for a limit (Infinity: none). */
  range: (limit: number) => Stmt<[string, string], RawRow>;
  keys: Stmt<[string, string], string>;
  count: Stmt<[string, string], number>;
  maxModRev: Stmt<[], number | null>;
  put: Stmt<[string, string, number]>;
  del: Stmt<[string]>;
  getMeta: Stmt<[string], number>;
  setMeta: Stmt<[string, number]>;
  // Explicit transaction control: a group commit spans several txns, each in
  // its own savepoint, and must decide when to COMMIT (db.transaction() wraps
  // one function call).
  begin: Stmt<[]>;
  commit: Stmt<[]>;
  rollback: Stmt<[]>;
  savepoint: Stmt<[]>;
  release: Stmt<[]>;
  rollbackTo: Stmt<[]>;
}

/** Every statement, prepared once per database. */
export function prepareStatements(db: Database.Database): Statements {
  return {
    get: db.prepare<[string], Omit<Row, 'key'>>('SELECT value, mod_rev FROM kv WHERE key = ?'),
    modRev: db.prepare<[string], number>('SELECT mod_rev FROM kv WHERE key = ?').pluck(),
    range: rangeStatements(db),
    keys: db.prepare<[string, string], string>('SELECT key FROM kv WHERE key >= ? AND key < ? ORDER BY key').pluck(),
    count: db.prepare<[string, string], number>('SELECT count(*) FROM kv WHERE key >= ? AND key < ?').pluck(),
    maxModRev: db.prepare<[], number | null>('SELECT max(mod_rev) FROM kv').pluck(),
    put: db.prepare<[string, string, number]>(
      'INSERT INTO kv (key, value, mod_rev) VALUES (?, ?, ?) ' +
        'ON CONFLICT (key) DO UPDATE SET value = excluded.value, mod_rev = excluded.mod_rev',
    ),
    del: db.prepare<[string]>('DELETE FROM kv WHERE key = ?'),
    getMeta: db.prepare<[string], number>('SELECT value FROM meta WHERE name = ?').pluck(),
    setMeta: db.prepare<[string, number]>(
      'INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
    ),
    begin: db.prepare<[]>('BEGIN'),
    commit: db.prepare<[]>('COMMIT'),
    rollback: db.prepare<[]>('ROLLBACK'),
    savepoint: db.prepare<[]>('SAVEPOINT txn'),
    release: db.prepare<[]>('RELEASE txn'),
    rollbackTo: db.prepare<[]>('ROLLBACK TO txn'),
  };
}

const RANGE_SQL = 'SELECT key, value, mod_rev FROM kv WHERE key >= ? AND key < ? ORDER BY key';
/** Distinct literal limits kept prepared; past that, others are prepared per call (rare: limits come from a few page sizes). */
const MAX_RANGE_STATEMENTS = 64;

/**
 * Range statements with the LIMIT written in, one per limit, prepared on
 * first use. A bound `LIMIT ?` makes SQLite re-prepare the statement on
 * every call (its planner reads the limit's value, and each call binds it
 * anew, which expires the plan): 8-13 µs of parsing and planning per range,
 * more than an empty range costs in all (~3 µs). Raw mode (arrays, not objects): a page of 18
 * rows costs ~35-50 % less CPU (bench/README.md, Cloud Queues).
 */
function rangeStatements(db: Database.Database): (limit: number) => Stmt<[string, string], RawRow> {
  const byLimit = new Map<number, Stmt<[string, string], RawRow>>();
  const prepare = (limit: number): Stmt<[string, string], RawRow> =>
    // An integer past 2^53 (or Infinity) limits nothing a table can hold: no LIMIT clause, the caller's merge still cuts.
    db.prepare<[string, string], RawRow>(Number.isSafeInteger(limit) ? `${RANGE_SQL} LIMIT ${limit}` : RANGE_SQL).raw();
  return (limit) => {
    let stmt = byLimit.get(limit);
    if (stmt === undefined) {
      stmt = prepare(limit);
      if (byLimit.size < MAX_RANGE_STATEMENTS) byLimit.set(limit, stmt);
    }
    return stmt;
  };
}

/** Applies `writes` at revision `rev` inside the open transaction. */
export function writeRows(stmt: Statements, writes: readonly DiskWrite[], rev: number): void {
  for (const w of writes) {
    if (w.value === null) stmt.del.run(w.key);
    else stmt.put.run(w.key, w.value, rev);
  }
}
