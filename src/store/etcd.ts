/**
 * The etcd engine of `Store`: the same contract as the SQLite engine, over an
 * etcd v3 cluster reached through its gRPC API or its JSON gateway
 * (etcd-transport.ts), so several stateless
 * registry servers can share one set of data.
 *
 * - Keys live under one prefix (default `tether/`); revisions, compares and
 *   transactions are etcd's own, so a txn is atomic and durable (raft) when
 *   its promise resolves.
 * - Leases are etcd leases. Their ids are chosen here, at random below 2^53,
 *   so they stay exact JavaScript numbers (etcd's own ids are 64-bit).
 *   A keep-alive renews a lease for the TTL it was granted with (etcd has no
 *   way to change a lease's TTL).
 * - Watch: one etcd watch stream per store covers the prefix (but for the
 *   unwatched keys from WATCHED_END on, store.ts) and feeds
 *   a local ring and hub (as in the SQLite engine), so a thousand long-polls
 *   cost one stream. When the stream breaks it resumes from the last revision
 *   seen; when etcd compacted that revision away, every watcher gets an empty
 *   batch ("re-read") and history restarts at the current revision.
 * - Point reads and txns made at the same time share etcd requests (group
 *   commit, etcd-batch-kv.ts): etcd spends CPU per request.
 * - Compaction: every `compactionIntervalMs` the store compacts etcd to the
 *   revision it saw one interval earlier (what the Kubernetes API server
 *   does), so heartbeat writes do not grow etcd's history without bound.
 *   Several registry servers doing it at once is harmless.
 *
 * Errors: see `etcd-gateway.ts` (both transports map them alike); `store.closed` after close().
 */
import type { Logger } from 'pino';
import { TetherError, hasCode } from '../lib/errors.js';
import { Backoff, sleep } from '../lib/backoff.js';
import { silentLogger } from '../observability/logger.js';
import { EtcdBatchedKv, entryOf, rev, type EtcdTxn, type Header, type Kv, type RangeReply } from './etcd-batch-kv.js';
import { b64, etcdPrefixEnd, unb64, type EtcdAuth } from './etcd-gateway.js';
import { DEFAULT_ETCD_TRANSPORT, openTransport, type EtcdTransport, type EtcdTransportKind } from './etcd-transport.js';
import type { TlsOptions } from '../lib/http-pool.js';
import { prefixEnd, WATCHED_END } from './store.js';
import type { Compare, Entry, Op, RangeOptions, RangeResult, Store, TxnOptions, TxnResult, WatchEvent } from './store.js';
import { WatchFeed, type Listener } from './watch-hub.js';

export interface EtcdStoreOptions {
  /** Client URLs of the etcd members, tried in order (`http://127.0.0.1:2379`). */
  endpoints: readonly string[];
  /** Every key is stored under this prefix (default `tether/`; a missing trailing `/` is added). */
  prefix?: string;
  /** Longest wait for one etcd request (default 2000 ms); then `store.unavailable`. */
  timeoutMs?: number;
  /** Watch events kept in memory for watch-from-revision (default 10_000). */
  watchHistory?: number;
  /** How often etcd's history is compacted (default 5 minutes; 0 = never, leave it to etcd's own auto-compaction). */
  compactionIntervalMs?: number;
  /** The cluster's `--max-txn-ops` (default 128, etcd's default): no txn is sent with more operations. */
  maxTxnOps?: number;
  /** For https:// endpoints: CA, client certificate and key (PEM), server name. */
  tls?: TlsOptions | undefined;
  /** etcd user and password, when etcd's auth is enabled (never logged). */
  auth?: EtcdAuth | undefined;
  /** etcd's native gRPC API (default) or its JSON gateway (etcd-transport.ts). */
  transport?: EtcdTransportKind | undefined;
  logger?: Logger;
}

/** etcd's default `--max-txn-ops`. */
export const ETCD_DEFAULT_MAX_TXN_OPS = 128;

interface WatchMessage {
  result?: {
    header?: Header;
    created?: boolean;
    canceled?: boolean;
    compact_revision?: string;
    cancel_reason?: string;
    events?: Array<{ type?: 'PUT' | 'DELETE'; kv: Kv }>;
  };
  error?: { message?: string };
}

const MAX_LEASE_ID = Number.MAX_SAFE_INTEGER;
const DEFAULT_COMPACTION_MS = 5 * 60_000;

/**
 * Connects to etcd (one read, so a wrong endpoint fails here) and starts the
 * watch stream. Rejects with `store.unavailable` when etcd does not answer.
 */
export async function openEtcdStore(opts: EtcdStoreOptions): Promise<EtcdStore> {
  const transport = await openTransport(opts.transport ?? DEFAULT_ETCD_TRANSPORT, { endpoints: opts.endpoints, timeoutMs: opts.timeoutMs ?? 2000, tls: opts.tls, auth: opts.auth });
  let store: EtcdStore;
  try {
    store = new EtcdStore(opts, transport);
  } catch (err) {
    await transport.close();
    throw err;
  }
  try {
    await store.start();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

export class EtcdStore implements Store {
  readonly shared = true;
  readonly maxTxnOps: number;
  private readonly gw: EtcdTransport;
  /** get, getMany and txn, coalesced with concurrent ones into fewer etcd requests. */
  private readonly kv: EtcdBatchedKv;
  private readonly root: string;
  private readonly log: Logger;
  private feed!: WatchFeed;
  private readonly stop = new AbortController();
  private following: Promise<void> = Promise.resolve();
  private compactor: NodeJS.Timeout | undefined;
  private compactMark = 0;
  private closed = false;

  constructor(
    private readonly opts: EtcdStoreOptions,
    transport: EtcdTransport,
  ) {
    const prefix = opts.prefix ?? 'tether/';
    if (prefix === '') throw new TetherError('store.invalid', 'the etcd key prefix must not be empty');
    // Always a folder: `tether` must not also cover `tether2/`.
    this.root = prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.maxTxnOps = opts.maxTxnOps ?? ETCD_DEFAULT_MAX_TXN_OPS;
    this.gw = transport;
    this.kv = new EtcdBatchedKv(this.gw, this.maxTxnOps);
    this.log = (opts.logger ?? silentLogger()).child({ component: 'etcd' });
  }

  /** @internal called by openEtcdStore. */
  async start(): Promise<void> {
    const rev = await this.revision();
    this.feed = new WatchFeed(this.opts.watchHistory ?? 10_000, rev);
    let created!: () => void;
    let failed!: (err: unknown) => void;
    const ready = new Promise<void>((resolve, reject) => {
      created = resolve;
      failed = reject;
    });
    this.following = this.follow(created, failed);
    await ready;
    this.scheduleCompaction();
  }

  async get(key: string): Promise<Entry | undefined> {
    return (await this.getMany([key]))[0];
  }

  /** The keys read at one revision, in one round trip (shared with concurrent reads). */
  async getMany(keys: readonly string[]): Promise<Array<Entry | undefined>> {
    this.assertOpen();
    if (keys.length === 0) return [];
    const kvs = await this.kv.read(keys.map((k) => this.full(k)));
    return kvs.map((kv) => (kv === undefined ? undefined : this.entry(kv)));
  }

  async range(prefix: string, opts: RangeOptions = {}): Promise<RangeResult> {
    this.assertOpen();
    // Clipped to the prefix, as the contract says.
    const from = opts.from !== undefined && opts.from > prefix ? opts.from : prefix;
    const to = opts.to !== undefined && opts.to < prefixEnd(prefix) ? opts.to : prefixEnd(prefix);
    if (from >= to) return { entries: [], revision: await this.revision() };
    const body: Record<string, unknown> = { key: this.full(from), range_end: this.end(to) };
    if (opts.limit !== undefined) body.limit = opts.limit;
    const r = await this.gw.call<RangeReply>('/v3/kv/range', body, true);
    return { entries: (r.kvs ?? []).map((kv) => this.entry(kv)), revision: rev(r.header) };
  }

  async count(prefix: string): Promise<number> {
    this.assertOpen();
    const r = await this.gw.call<RangeReply>('/v3/kv/range', { key: this.full(prefix), range_end: this.end(prefixEnd(prefix)), count_only: true }, true);
    return Number(r.count ?? 0);
  }

  async txn(compares: Compare[], ops: Op[], opts?: TxnOptions): Promise<TxnResult> {
    this.assertOpen();
    const flat = flattenOps(ops);
    // A range delete may touch any key: it goes alone, in order with the others.
    const keys = flat.some((op) => op.type === 'deleteRange')
      ? null
      : [...new Set([...compares.map((c) => c.key), ...flat.map((op) => (op as { key: string }).key)])];
    const body: EtcdTxn = {
      compare: compares.map((c) =>
        c.op === 'absent'
          ? { key: this.full(c.key), target: 'CREATE', result: 'EQUAL', create_revision: '0' }
          : { key: this.full(c.key), target: 'MOD', result: 'EQUAL', mod_revision: String(c.revision) },
      ),
      success: flat.map((op) => {
        if (op.type === 'put') {
          const put: Record<string, string> = { key: this.full(op.key), value: b64(op.value) };
          if (op.lease !== undefined && op.lease !== 0) put.lease = String(op.lease);
          return { request_put: put };
        }
        if (op.type === 'delete') return { request_delete_range: { key: this.full(op.key) } };
        return { request_delete_range: { key: this.full(op.start), range_end: this.end(op.end) } };
      }),
    };
    return this.kv.txn(body, keys, opts?.coalesce === true);
  }

  async grantLease(ttlMs: number): Promise<number> {
    this.assertOpen();
    if (!(ttlMs > 0)) throw new TetherError('store.invalid', `lease TTL must be a positive number of ms, got ${ttlMs}`);
    const ttl = Math.max(1, Math.ceil(ttlMs / 1000));
    for (;;) {
      const id = 1 + Math.floor(Math.random() * (MAX_LEASE_ID - 1));
      try {
        await this.gw.call('/v3/lease/grant', { ID: String(id), TTL: String(ttl) }, false);
        return id;
      } catch (err) {
        if (!hasCode(err, 'store.lease_exists')) throw err;
      }
    }
  }

  async keepAlive(lease: number): Promise<boolean> {
    this.assertOpen();
    const r = await this.gw.call<{ result?: { TTL?: string } }>('/v3/lease/keepalive', { ID: String(lease) }, false);
    return Number(r.result?.TTL ?? 0) > 0;
  }

  async revokeLease(lease: number): Promise<void> {
    this.assertOpen();
    try {
      await this.gw.call('/v3/lease/revoke', { ID: String(lease) }, false);
    } catch (err) {
      if (!hasCode(err, 'store.lease_not_found')) throw err;
    }
  }

  async watch(prefix: string, fromRevision: number, listener: Listener, signal: AbortSignal): Promise<void> {
    this.assertOpen();
    this.feed.watch(prefix, fromRevision, listener, signal);
  }

  /** The watch stream's position: everything up to it has reached the watchers; no round trip. */
  async watchedRevision(): Promise<number> {
    this.assertOpen();
    return this.feed.position;
  }

  async revision(): Promise<number> {
    this.assertOpen();
    const r = await this.gw.call<RangeReply>('/v3/kv/range', { key: this.full(''), count_only: true }, true);
    return rev(r.header);
  }

  /**
   * Bytes of the backend in use (etcd's dbSizeInUse; dbSize on versions without it): what
   * --max-db-bytes compares. Deleted keys are freed by compaction, which this store runs.
   */
  async dbBytesInUse(): Promise<number> {
    this.assertOpen();
    const r = await this.gw.call<{ dbSize?: string; dbSizeInUse?: string }>('/v3/maintenance/status', {}, true);
    return Number(r.dbSizeInUse ?? r.dbSize ?? 0);
  }

  /** Stops the watch stream and the compactor, and closes the connections. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stop.abort();
    this.kv.close();
    clearTimeout(this.compactor);
    this.feed?.close();
    await this.following.catch(() => undefined);
    await this.gw.close();
  }

  // --- the watch stream -------------------------------------------------

  /** Follows every change under the prefix until close(), resuming after breaks. */
  private async follow(created: () => void, failed: (err: unknown) => void): Promise<void> {
    const backoff = new Backoff({ initialMs: 100, maxMs: 5_000, jitter: 0.5 });
    let first = true;
    // A member that hangs or is cut off from the others keeps the stream open
    // and silent: probe it, and move the stream elsewhere when it stops serving.
    const probeEveryMs = Math.max(1_000, (this.opts.timeoutMs ?? 2000) * 2.5);
    while (!this.stop.signal.aborted) {
      let live = false;
      let at = -1;
      let stalled = false;
      let probing = false;
      const attempt = new AbortController();
      const stopAttempt = (): void => attempt.abort();
      this.stop.signal.addEventListener('abort', stopAttempt, { once: true });
      const watchdog = setInterval(() => {
        if (at < 0 || probing) return;
        probing = true;
        this.gw
          .probe(at, { key: this.full(''), count_only: true })
          .catch((err: unknown) => {
            if (attempt.signal.aborted) return;
            this.log.warn({ err, endpoint: this.gw.endpoints[at] }, 'etcd member of the watch stream stopped serving; moving the stream');
            stalled = true;
            attempt.abort();
          })
          .finally(() => (probing = false));
      }, probeEveryMs);
      watchdog.unref();
      try {
        await this.gw.stream(
          '/v3/watch',
          // Up to WATCHED_END: heartbeat state (UNWATCHED_PREFIX) would be a watch event per heartbeat on every server.
          { create_request: { key: this.full(''), range_end: this.full(WATCHED_END), start_revision: String(this.feed.position + 1) } },
          (msg) => {
            if (this.onMessage(msg as WatchMessage) && !live) {
              live = true;
              backoff.reset();
              if (first) created();
              first = false;
            }
          },
          attempt.signal,
          (i) => (at = i),
        );
        if (!this.stop.signal.aborted && !stalled) this.log.warn('etcd watch stream ended; resuming');
      } catch (err) {
        if (first) {
          failed(err);
          return;
        }
        if (hasCode(err, 'store.compacted')) await this.recover();
        else {
          this.log.warn({ err }, 'etcd watch stream broke; resuming');
          // e.g. "no leader": that member is cut off; open the next stream elsewhere.
          if (at >= 0 && hasCode(err, 'store.unavailable')) stalled = true;
        }
      } finally {
        clearInterval(watchdog);
        this.stop.signal.removeEventListener('abort', stopAttempt);
      }
      if (stalled && at >= 0) this.gw.avoid(at);
      await sleep(backoff.next(), this.stop.signal);
    }
  }

  /** Handles one message of the stream; true once the watch is in place. */
  private onMessage(msg: WatchMessage): boolean {
    if (msg.error !== undefined) throw new TetherError('store.unavailable', `etcd watch: ${msg.error.message ?? 'error'}`);
    const r = msg.result;
    if (r === undefined) return false;
    if (r.canceled === true) {
      const compacted = Number(r.compact_revision ?? 0);
      if (compacted > 0) throw new TetherError('store.compacted', `etcd compacted its history past revision ${this.feed.position + 1}`);
      throw new TetherError('store.unavailable', `etcd canceled the watch: ${r.cancel_reason ?? 'no reason given'}`);
    }
    if (r.events !== undefined && r.events.length > 0) {
      const events: WatchEvent[] = r.events.map((e) => ({
        type: e.type === 'DELETE' ? 'delete' : 'put',
        key: unb64(e.kv.key).slice(this.root.length),
        value: e.type === 'DELETE' ? null : unb64(e.kv.value),
        revision: Number(e.kv.mod_revision ?? 0),
      }));
      this.feed.push(events);
    }
    return true;
  }

  /** The stream's revision was compacted away: tell every watcher to re-read, and go on from now. */
  private async recover(): Promise<void> {
    try {
      const now = await this.revision();
      this.log.warn({ revision: now }, 'etcd compacted past the watch position; watchers re-read');
      this.feed.reset(now);
    } catch (err) {
      this.log.warn({ err }, 'etcd unreachable while recovering the watch');
    }
  }

  // --- compaction ---------------------------------------------------------

  private scheduleCompaction(): void {
    const every = this.opts.compactionIntervalMs ?? DEFAULT_COMPACTION_MS;
    if (every <= 0 || this.stop.signal.aborted) return;
    this.compactor = setTimeout(() => {
      void this.compact().finally(() => this.scheduleCompaction());
    }, every * (0.9 + Math.random() * 0.2));
    this.compactor.unref();
  }

  private async compact(): Promise<void> {
    try {
      const now = await this.revision();
      const target = this.compactMark;
      this.compactMark = now;
      if (target > 0) await this.gw.call('/v3/kv/compaction', { revision: String(target) }, false);
    } catch (err) {
      // Another registry server compacted first, or etcd is away: next round.
      if (!hasCode(err, 'store.compacted')) this.log.warn({ err }, 'etcd compaction failed');
    }
  }

  // --- keys ---------------------------------------------------------------

  private full(key: string): string {
    return b64(this.root + key);
  }

  /** A range end in etcd terms: our `prefixEnd` marker becomes etcd's prefix end. */
  private end(to: string): string {
    return to.endsWith('\uffff') ? etcdPrefixEnd(this.root + to.slice(0, -1)) : this.full(to);
  }

  private entry(kv: Kv): Entry {
    return entryOf(kv, this.root);
  }

  private assertOpen(): void {
    if (this.closed) throw new TetherError('store.closed', 'the store is closed');
  }
}

/**
 * The ops of one txn rewritten so that no two touch the same key, which etcd
 * refuses ("duplicate key given in txn request"), with the same outcome as
 * applying them in order: a later op on a key replaces earlier ones, and a
 * put inside an earlier deleteRange splits that range around its key.
 */
export function flattenOps(ops: readonly Op[]): Op[] {
  let out: Op[] = [];
  const inRange = (key: string, r: { start: string; end: string }): boolean => key >= r.start && key < r.end;
  for (const op of ops) {
    if (op.type === 'deleteRange') {
      out = out.filter((o) => o.type === 'deleteRange' || !inRange(o.key, op));
      out.push(op);
      continue;
    }
    out = out.filter((o) => o.type === 'deleteRange' || o.key !== op.key);
    if (op.type === 'delete') {
      if (!out.some((o) => o.type === 'deleteRange' && inRange(op.key, o))) out.push(op);
      continue;
    }
    const split: Op[] = [];
    for (const o of out) {
      if (o.type !== 'deleteRange' || !inRange(op.key, o)) {
        split.push(o);
        continue;
      }
      if (o.start < op.key) split.push({ type: 'deleteRange', start: o.start, end: op.key });
      const after = `${op.key}\0`;
      if (after < o.end) split.push({ type: 'deleteRange', start: after, end: o.end });
    }
    split.push(op);
    out = split;
  }
  return out;
}

