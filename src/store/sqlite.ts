/**
 * The embedded engine of `Store`: one SQLite file (better-sqlite3, WAL) for
 * durable keys, plus memory for everything that must not touch the disk.
 *
 * Durability model:
 * - Keys written without a lease are durable: a txn resolves after SQLite
 *   committed it (with `synchronous: 'full'`, after the WAL fsync; with
 *   'normal', a commit survives a process crash but not a power loss).
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
 *   txn (and a graceful close) persists it, so after reopen the revision is
 *   >= every durable modRevision. After a crash, the revisions of volatile-only
 *   txns since the last durable one are reused; nothing durable holds them.
 * - Watch history is an in-memory ring of recent events; after a reopen (or
 *   once the ring wraps) older revisions answer `store.compacted`.
 * - The file is locked exclusively while the store is open: another process
 *   (a second registry, the sqlite3 shell, a file-level backup) cannot open it
 *   until close().
 *
 * Everything runs synchronously inside the async methods: a txn is applied
 * (and its watch events delivered) before its promise settles.
 *
 * Errors (TetherError codes): `store.locked` from open when another process
 * holds the file, `store.closed` after close(), `store.invalid`
 * for a malformed argument, `store.lease_not_found` for a put bound to an
 * unknown or expired lease, `store.compacted` from watch, `store.failed` when
 * SQLite fails (the cause is attached; nothing was applied).
 */
import Database from 'better-sqlite3';
import { TetherError } from '../lib/errors.js';
import { prefixEnd } from './store.js';
import type { Compare, Entry, Op, RangeOptions, RangeResult, Store, TxnResult, WatchEvent } from './store.js';
import { WatchFeed, type Listener } from './watch-hub.js';

/** Options of `openSqliteStore`. */
export interface SqliteStoreOptions {
  /** Database file, or ':memory:'. */
  path: string;
  /** SQLite `synchronous` pragma: 'full' (default) fsyncs every commit. */
  synchronous?: 'full' | 'normal';
  /** Watch events kept in memory for watch-from-revision (default 10_000). */
  watchHistory?: number;
}



/** Lease ids per process start; the persisted epoch fills the high part. */
const LEASE_SPAN = 2 ** 32;
const MAX_LEASE_EPOCH = Math.floor(Number.MAX_SAFE_INTEGER / LEASE_SPAN) - 1;
const MAX_TIMER_MS = 2 ** 31 - 1;
const BUSY_TIMEOUT_MS = 5_000;
// Watchers start from a revision they have just read, so deep history is never
// needed; a small ring keeps heartbeat churn out of the old generation (GC).
const DEFAULT_WATCH_HISTORY = 10_000;
/** Above this many removals, one filter pass beats one splice per key. */
const SPLICE_LIMIT = 32;

/** Monotonic milliseconds: lease deadlines must not move with the wall clock. */
const monotonicNow = (): number => performance.now();

// ---------------------------------------------------------------------------
// Volatile keys
// ---------------------------------------------------------------------------

interface VolatileEntry {
  value: string;
  modRevision: number;
  lease: number;
}

/**
 * Lease-bound keys: a Map for point lookups plus one sorted key array for
 * ranges (binary search, so a range never scans unrelated keys). A sorted
 * array rather than a per-directory index because it answers any [from, to)
 * and prefixes that do not end in '/'; it only changes when a key becomes or
 * stops being volatile (register/expire), never on a heartbeat.
 */
class VolatileKeys {
  private readonly byKey = new Map<string, VolatileEntry>();
  private sorted: string[] = [];

  get(key: string): VolatileEntry | undefined {
    return this.byKey.get(key);
  }

  has(key: string): boolean {
    return this.byKey.has(key);
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

// ---------------------------------------------------------------------------
// Lease deadlines
// ---------------------------------------------------------------------------

interface Lease {
  id: number;
  /** The TTL it was granted with; each keepAlive renews it for this long. */
  ttlMs: number;
  /** Monotonic ms after which the lease is expired. */
  deadline: number;
  /** Deadline of this lease's live entry in the heap (others are stale). */
  queuedAt: number;
  keys: Set<string>;
}

interface Deadline {
  at: number;
  id: number;
}

/**
 * Min-heap of lease deadlines behind a single timer. keepAlive only moves
 * `lease.deadline` later (O(1), no heap work); when the old entry surfaces it
 * is re-queued at the new deadline. So the heap holds about one entry per
 * lease, even at 15,000 keep-alives per second.
 */
class DeadlineHeap {
  private readonly items: Deadline[] = [];

  peek(): Deadline | undefined {
    return this.items[0];
  }

  push(item: Deadline): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]!.at <= item.at) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = item;
  }

  /** Removes and returns the earliest deadline. */
  pop(): Deadline | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const c = l + 1 < a.length && a[l + 1]!.at < a[l]!.at ? l + 1 : l;
      if (a[c]!.at >= last.at) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
    return top;
  }

  clear(): void {
    this.items.length = 0;
  }
}

// ---------------------------------------------------------------------------
// SQLite schema and statements
// ---------------------------------------------------------------------------

interface Row {
  key: string;
  value: string;
  mod_rev: number;
}

/** A durable change: upsert when `value` is a string, delete when null. */
interface DiskWrite {
  key: string;
  value: string | null;
}

const SCHEMA = `
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

interface Statements {
  get: Stmt<[string], Omit<Row, 'key'>>;
  modRev: Stmt<[string], number>;
  range: Stmt<[string, string, number], Row>;
  keys: Stmt<[string, string], string>;
  count: Stmt<[string, string], number>;
  maxModRev: Stmt<[], number | null>;
  put: Stmt<[string, string, number]>;
  del: Stmt<[string]>;
  getMeta: Stmt<[string], number>;
  setMeta: Stmt<[string, number]>;
}

/** Every statement, prepared once per database. */
function prepareStatements(db: Database.Database): Statements {
  return {
    get: db.prepare<[string], Omit<Row, 'key'>>('SELECT value, mod_rev FROM kv WHERE key = ?'),
    modRev: db.prepare<[string], number>('SELECT mod_rev FROM kv WHERE key = ?').pluck(),
    range: db.prepare<[string, string, number], Row>(
      'SELECT key, value, mod_rev FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?',
    ),
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
  };
}

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

/** A key's state while a txn is planned: where it was, and what it becomes. */
interface Change {
  origin: 'mem' | 'disk' | 'none';
  exists: boolean;
  value: string;
  lease: number;
  dirty: boolean;
}

interface Plan {
  changes: Map<string, Change>;
  events: WatchEvent[];
}

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
    // read then skips the shared-memory WAL lock (~1 us instead of ~6 us per
    // get on the heartbeat path), and a second registry opening the same data
    // directory fails instead of corrupting the in-memory revision and leases.
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.exec(SCHEMA);
    return new SqliteStore(db, prepareStatements(db), watchHistory);
  } catch (err) {
    db?.close();
    if (isSqliteBusy(err)) {
      throw new TetherError('store.locked', `SQLite store at ${opts.path} is in use by another process`, { cause: err });
    }
    throw toStoreError(err, `cannot open SQLite store at ${opts.path}`);
  }
}

/** The SQLite `Store`; build it with `openSqliteStore`. */
export class SqliteStore implements Store {
  /** One process owns the file (it is locked). */
  readonly shared = false;
  private rev: number;
  private persistedRev: number;
  private closed = false;
  private readonly volatile = new VolatileKeys();
  private readonly leases = new Map<number, Lease>();
  private readonly deadlines = new DeadlineHeap();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private leaseBase = 0;
  private leaseSeq = 0;
  private readonly feed: WatchFeed;
  private readonly writeDisk: (writes: DiskWrite[], rev: number) => void;

  /** @internal Use `openSqliteStore`. */
  constructor(
    private readonly db: Database.Database,
    private readonly stmt: Statements,
    watchHistory: number,
  ) {
    this.rev = Math.max(stmt.getMeta.get('revision') ?? 0, stmt.maxModRev.get() ?? 0);
    this.persistedRev = this.rev;
    this.feed = new WatchFeed(watchHistory, this.rev);
    this.writeDisk = db.transaction((writes: DiskWrite[], rev: number) => {
      for (const w of writes) {
        if (w.value === null) stmt.del.run(w.key);
        else stmt.put.run(w.key, w.value, rev);
      }
      stmt.setMeta.run('revision', rev);
    });
    this.startLeaseEpoch();
  }

  /** Returns the entry of `key`, or undefined. */
  async get(key: string): Promise<Entry | undefined> {
    this.assertOpen();
    const v = this.volatile.get(key);
    if (v !== undefined) return { key, value: v.value, modRevision: v.modRevision, lease: v.lease };
    try {
      const row = this.stmt.get.get(key);
      return row === undefined ? undefined : { key, value: row.value, modRevision: row.mod_rev, lease: 0 };
    } catch (err) {
      throw toStoreError(err, 'get failed');
    }
  }

  /** Several keys at once; everything here is synchronous, so the read is consistent. */
  async getMany(keys: readonly string[]): Promise<Array<Entry | undefined>> {
    return Promise.all(keys.map((k) => this.get(k)));
  }

  /** Returns the keys under `prefix` within [from, to) in byte order (limit <= 0 means no limit, as in etcd). */
  async range(prefix: string, opts: RangeOptions = {}): Promise<RangeResult> {
    this.assertOpen();
    const [start, end] = bounds(prefix, opts);
    const limit = opts.limit !== undefined && opts.limit >= 1 ? Math.floor(opts.limit) : Infinity;
    if (start >= end) return { entries: [], revision: this.rev };
    try {
      const rows = this.stmt.range.all(start, end, limit === Infinity ? -1 : limit);
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
   * Applies `ops` atomically if every compare holds. Returns the revision after
   * it (unchanged when a compare failed or nothing changed). Fails with
   * `store.lease_not_found`, `store.invalid` or `store.failed`; then nothing
   * was applied.
   */
  async txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
    this.assertOpen();
    return this.applyTxn(compares, ops);
  }

  /** Grants a lease expiring `ttlMs` from now; returns its id (> 0). Fails with `store.invalid` for a bad TTL. */
  async grantLease(ttlMs: number): Promise<number> {
    this.assertOpen();
    assertTtl(ttlMs);
    const id = this.nextLeaseId();
    const deadline = monotonicNow() + ttlMs;
    this.leases.set(id, { id, ttlMs, deadline, queuedAt: deadline, keys: new Set() });
    this.queueDeadline(id, deadline);
    return id;
  }

  /** Pushes the lease's expiry to its TTL from now; false when it is expired or unknown. */
  async keepAlive(lease: number): Promise<boolean> {
    this.assertOpen();
    const l = this.liveLease(lease);
    if (l === undefined) return false;
    l.deadline = monotonicNow() + l.ttlMs;
    if (l.deadline < l.queuedAt) {
      l.queuedAt = l.deadline;
      this.queueDeadline(l.id, l.deadline);
    }
    return true;
  }

  /** Revokes the lease and deletes its keys at a new revision; unknown leases are ignored. */
  async revokeLease(lease: number): Promise<void> {
    this.assertOpen();
    const l = this.leases.get(lease);
    if (l !== undefined) this.endLease(l);
  }

  /**
   * Delivers buffered events at revision >= `fromRevision` under `prefix`
   * (one call, before this resolves), then live ones (one call per txn) until
   * `signal` aborts. An already-aborted signal resolves without any call.
   * Rejects with `store.compacted` when those revisions are no longer kept.
   * Listeners run synchronously inside the writing txn, get event objects
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

  /** Stops timers and watchers, persists the revision and closes the database. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.deadlines.clear();
    this.leases.clear();
    this.feed.close();
    try {
      if (this.rev > this.persistedRev) this.stmt.setMeta.run('revision', this.rev);
    } finally {
      this.db.close();
    }
  }

  // --- transactions -------------------------------------------------------

  private applyTxn(compares: Compare[], ops: Op[]): TxnResult {
    this.reapLeasesOf(ops);
    try {
      if (!this.comparesHold(compares)) return { succeeded: false, revision: this.rev };
      const rev = this.rev + 1;
      const plan = this.plan(ops, rev);
      if (plan.events.length === 0) return { succeeded: true, revision: this.rev };
      this.commit(plan, rev);
      return { succeeded: true, revision: rev };
    } catch (err) {
      throw toStoreError(err, 'txn failed');
    }
  }

  /** Expires, before compares run, the overdue leases `ops` bind keys to. */
  private reapLeasesOf(ops: Op[]): void {
    for (const op of ops) if (op.type === 'put' && op.lease) this.liveLease(op.lease);
  }

  private comparesHold(compares: Compare[]): boolean {
    for (const c of compares) {
      const modRev = this.modRevisionOf(c.key);
      if (c.op === 'absent' ? modRev !== undefined : modRev !== c.revision) return false;
    }
    return true;
  }

  private modRevisionOf(key: string): number | undefined {
    return this.volatile.get(key)?.modRevision ?? this.stmt.modRev.get(key);
  }

  /** Computes the effect of `ops` in order, without applying anything. */
  private plan(ops: Op[], rev: number): Plan {
    const plan: Plan = { changes: new Map(), events: [] };
    for (const op of ops) {
      if (op.type === 'put') this.planPut(plan, op.key, op.value, op.lease ?? 0, rev);
      else if (op.type === 'delete') this.planDelete(plan, op.key, rev);
      else for (const key of this.liveKeysIn(plan, op.start, op.end)) this.planDelete(plan, key, rev);
    }
    return plan;
  }

  private planPut(plan: Plan, key: string, value: string, lease: number, rev: number): void {
    if (key === '') throw new TetherError('store.invalid', 'empty key');
    if (lease !== 0 && !this.leases.has(lease)) {
      throw new TetherError('store.lease_not_found', `lease ${lease} is expired or unknown`);
    }
    const c = this.touch(plan, key);
    c.exists = true;
    c.value = value;
    c.lease = lease;
    c.dirty = true;
    plan.events.push({ type: 'put', key, value, revision: rev });
  }

  private planDelete(plan: Plan, key: string, rev: number): void {
    const c = this.touch(plan, key);
    if (!c.exists) return;
    c.exists = false;
    c.dirty = true;
    plan.events.push({ type: 'delete', key, value: null, revision: rev });
  }

  /** Returns the planned state of `key`, reading its current state on first use. */
  private touch(plan: Plan, key: string): Change {
    let c = plan.changes.get(key);
    if (c !== undefined) return c;
    const v = this.volatile.get(key);
    if (v !== undefined) c = { origin: 'mem', exists: true, value: v.value, lease: v.lease, dirty: false };
    else if (this.stmt.modRev.get(key) !== undefined) c = { origin: 'disk', exists: true, value: '', lease: 0, dirty: false };
    else c = { origin: 'none', exists: false, value: '', lease: 0, dirty: false };
    plan.changes.set(key, c);
    return c;
  }

  /** Keys that exist in [start, end) given the plan so far, in byte order. */
  private liveKeysIn(plan: Plan, start: string, end: string): string[] {
    const keys = new Set([...this.stmt.keys.all(start, end), ...this.volatile.keysIn(start, end)]);
    for (const [key, c] of plan.changes) if (c.exists && key >= start && key < end) keys.add(key);
    return [...keys].filter((k) => this.touch(plan, k).exists).sort(byteOrder);
  }

  /** Writes the plan: SQLite first (may throw, nothing applied), then memory, then watchers. */
  private commit(plan: Plan, rev: number): void {
    const disk: DiskWrite[] = [];
    for (const [key, c] of plan.changes) {
      if (!c.dirty) continue;
      if (c.exists && c.lease === 0) disk.push({ key, value: c.value });
      else if (c.origin === 'disk') disk.push({ key, value: null });
    }
    if (disk.length > 0) {
      this.writeDisk(disk, rev);
      this.persistedRev = rev;
    }
    this.applyVolatile(plan, rev);
    this.rev = rev;
    this.feed.push(plan.events);
    this.feed.position = rev;
  }

  private applyVolatile(plan: Plan, rev: number): void {
    const removed: string[] = [];
    for (const [key, c] of plan.changes) {
      if (!c.dirty) continue;
      const old = c.origin === 'mem' ? this.volatile.get(key) : undefined;
      const nextLease = c.exists ? c.lease : 0;
      if (old !== undefined && old.lease !== nextLease) this.leases.get(old.lease)?.keys.delete(key);
      if (nextLease !== 0) {
        this.volatile.set(key, { value: c.value, modRevision: rev, lease: nextLease });
        this.leases.get(nextLease)?.keys.add(key);
      } else if (old !== undefined) {
        removed.push(key);
      }
    }
    if (removed.length > 0) this.volatile.deleteAll(removed);
  }

  // --- leases -------------------------------------------------------------

  /** Returns the lease if it is alive; expires it first when its deadline has passed. */
  private liveLease(id: number): Lease | undefined {
    const l = this.leases.get(id);
    if (l === undefined || l.deadline > monotonicNow()) return l;
    this.endLease(l);
    return undefined;
  }

  /** Forgets the lease and deletes its keys in one txn at a new revision. */
  private endLease(l: Lease): void {
    this.leases.delete(l.id);
    if (l.keys.size === 0) return;
    const ops: Op[] = [...l.keys].sort(byteOrder).map((key) => ({ type: 'delete', key }));
    this.applyTxn([], ops);
  }

  private queueDeadline(id: number, at: number): void {
    this.deadlines.push({ at, id });
    this.armTimer();
  }

  /** Keeps one unref'd timer armed for the earliest queued deadline. */
  private armTimer(): void {
    const top = this.deadlines.peek();
    if (top === undefined || (this.timer !== undefined && this.timerAt <= top.at)) return;
    clearTimeout(this.timer);
    this.timerAt = top.at;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(top.at - monotonicNow())));
    this.timer = setTimeout(() => this.onTimer(), delay);
    this.timer.unref();
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.closed) return;
    const now = monotonicNow();
    for (let top = this.deadlines.peek(); top !== undefined && top.at <= now; top = this.deadlines.peek()) {
      this.deadlines.pop();
      this.settleDeadline(top, now);
    }
    this.armTimer();
  }

  /** Expires the lease of a due heap entry, or re-queues it if it was kept alive. */
  private settleDeadline(entry: Deadline, now: number): void {
    const l = this.leases.get(entry.id);
    if (l === undefined || l.queuedAt !== entry.at) return;
    if (l.deadline > now) {
      l.queuedAt = l.deadline;
      this.deadlines.push({ at: l.deadline, id: l.id });
      return;
    }
    try {
      this.endLease(l);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  /** Bumps the persisted lease epoch so ids never repeat across opens. */
  private startLeaseEpoch(): void {
    const epoch = ((this.stmt.getMeta.get('lease_epoch') ?? 0) % MAX_LEASE_EPOCH) + 1;
    this.stmt.setMeta.run('lease_epoch', epoch);
    this.leaseBase = epoch * LEASE_SPAN;
    this.leaseSeq = 0;
  }

  private nextLeaseId(): number {
    this.leaseSeq += 1;
    if (this.leaseSeq >= LEASE_SPAN) {
      this.startLeaseEpoch();
      this.leaseSeq = 1;
    }
    return this.leaseBase + this.leaseSeq;
  }

  private assertOpen(): void {
    if (this.closed) throw new TetherError('store.closed', 'the store is closed');
  }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** The [start, end) of a range: `from`/`to` clamped to the keys under `prefix`. */
function bounds(prefix: string, opts: RangeOptions): [string, string] {
  const end = prefixEnd(prefix);
  const start = opts.from !== undefined && opts.from > prefix ? opts.from : prefix;
  return [start, opts.to !== undefined && opts.to < end ? opts.to : end];
}

/** Merges durable rows and volatile entries (each sorted, disjoint) in byte order. */
function mergeSorted(rows: Row[], mem: Entry[], limit: number): Entry[] {
  const out: Entry[] = [];
  let i = 0;
  let j = 0;
  while (out.length < limit && (i < rows.length || j < mem.length)) {
    const row = rows[i];
    const m = mem[j];
    if (row !== undefined && (m === undefined || row.key < m.key)) {
      out.push({ key: row.key, value: row.value, modRevision: row.mod_rev, lease: 0 });
      i++;
    } else {
      out.push(m!);
      j++;
    }
  }
  return out;
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function assertTtl(ttlMs: number): void {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new TetherError('store.invalid', `lease TTL must be a positive number of ms, got ${ttlMs}`);
  }
}

function isSqliteBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** Passes TetherErrors through; wraps anything else (SQLite) as `store.failed`. */
function toStoreError(err: unknown, message: string): TetherError {
  if (err instanceof TetherError) return err;
  return new TetherError('store.failed', `${message}: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
  });
}
