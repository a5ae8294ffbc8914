import type { Logger } from 'pino';
import { hasCode } from '../../lib/errors.js';
import { silentLogger } from '../../observability/logger.js';
import type { Compare, Entry, Op, RangeOptions, RangeResult, Store, TxnOptions, TxnResult, WatchEvent } from '../../store/store.js';
import { quotaErrors } from './quota-error.js';
import { entryBytes, GLOBAL_NS, ownerOf, tenantAnchor } from './tenant-keys.js';
import { UsageLedger } from './usage.js';

export interface QuotaOptions {
  /** Most tenants the server holds (--max-tenants); undefined = no cap. */
  maxTenants?: number | undefined;
  /** Most bytes of values, messages and queue metadata per tenant (--tenant-quota-bytes). */
  tenantQuotaBytes?: number | undefined;
  /** Most bytes the database may use (--max-db-bytes); needs `dbSize`. */
  maxDbBytes?: number | undefined;
  /** Bytes the database uses now (SQLite: pages in use; etcd: dbSizeInUse). */
  dbSize?: (() => Promise<number>) | undefined;
  /** How often the database size is read (default 1000 ms). */
  dbSizeEveryMs?: number;
  logger?: Logger;
}

/** What the quota metrics read. */
export interface QuotaView {
  readonly opts: QuotaOptions;
  readonly ledger: UsageLedger;
  dbBytes(): number | undefined;
  refusals(): Readonly<Record<string, number>>;
}

/**
 * A Store that refuses writes beyond the operator's quotas and otherwise
 * passes everything through. Written at the store, under both APIs, so the
 * registry and the queues (and event routes) are held by the same rules on
 * SQLite and etcd alike. Checked before each txn against the ledger, which
 * follows the store's change stream: concurrent writes of one tenant may
 * overshoot its quota by what they carry together (as etcd's own quota does).
 *
 * When the database is full, a txn with only puts is refused; a txn that
 * deletes anything (the registry's deletes also write their event), and one
 * whose puts are all lease-bound (heartbeat state), still commits.
 */
export class QuotaStore implements Store {
  readonly ledger: UsageLedger;
  private readonly stop = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private dbBytesNow: number | undefined;
  private readonly refused: Record<string, number> = { tenants: 0, tenant_bytes: 0, db_full: 0 };
  /** New tenants admitted by a txn not yet seen in the change stream: the cap counts them. */
  private readonly admitting = new Set<string>();

  private constructor(
    private readonly inner: Store,
    readonly opts: QuotaOptions,
  ) {
    this.ledger = new UsageLedger(inner, opts.logger ?? silentLogger(), opts.tenantQuotaBytes !== undefined);
  }

  static async open(inner: Store, opts: QuotaOptions): Promise<QuotaStore> {
    const store = new QuotaStore(inner, opts);
    await store.ledger.start(store.stop.signal);
    await store.measure();
    store.schedule();
    return store;
  }

  get maxTxnOps(): number | undefined {
    return this.inner.maxTxnOps;
  }
  get shared(): boolean {
    return this.inner.shared;
  }

  dbBytes(): number | undefined {
    return this.dbBytesNow;
  }
  refusals(): Readonly<Record<string, number>> {
    return this.refused;
  }

  private schedule(): void {
    if (this.opts.dbSize === undefined || this.stop.signal.aborted) return;
    this.timer = setTimeout(() => void this.measure().finally(() => this.schedule()), this.opts.dbSizeEveryMs ?? 1000);
    this.timer.unref();
  }

  private async measure(): Promise<void> {
    if (this.opts.dbSize === undefined) return;
    try {
      this.dbBytesNow = await this.opts.dbSize();
    } catch (err) {
      (this.opts.logger ?? silentLogger()).warn({ err }, 'quota: reading the database size failed');
    }
  }

  async txn(compares: Compare[], ops: Op[], opts?: TxnOptions): Promise<TxnResult> {
    const admitted = this.check(ops);
    try {
      return await this.inner.txn(compares, ops, opts);
    } catch (err) {
      // etcd's --quota-backend-bytes alarm: the same fault as our own database quota.
      if (hasCode(err, 'store.nospace')) throw this.refuse(quotaErrors.dbFull(undefined));
      throw err;
    } finally {
      for (const ns of admitted) this.admitting.delete(ns);
    }
  }

  /** Throws a QuotaError when `ops` go beyond a quota; returns the new tenants it admits. */
  private check(ops: Op[]): string[] {
    const max = this.opts.maxDbBytes;
    if (max !== undefined && this.dbBytesNow !== undefined && this.dbBytesNow >= max && refusedWhenFull(ops)) {
      throw this.refuse(quotaErrors.dbFull(max));
    }
    return this.checkTenants(ops, this.growth(ops));
  }

  /** Bytes each tenant's counted keys grow by (deletes and shrinks lower it). */
  private growth(ops: Op[]): Array<[string, number]> {
    if (this.opts.tenantQuotaBytes === undefined) return [];
    const by = new Map<string, number>();
    for (const op of ops) {
      if (op.type === 'deleteRange') continue;
      const owner = ownerOf(op.key);
      if (owner === null || !owner.counted) continue;
      const after = op.type === 'put' ? entryBytes(op.key, op.value) : 0;
      by.set(owner.ns, (by.get(owner.ns) ?? 0) + after - this.ledger.sizeOf(op.key));
    }
    return [...by];
  }

  private checkTenants(ops: Op[], growth: Array<[string, number]>): string[] {
    const quota = this.opts.tenantQuotaBytes;
    for (const [ns, bytes] of growth) {
      if (quota !== undefined && bytes > 0 && this.ledger.usage(ns) + bytes > quota) throw this.refuse(quotaErrors.tenantBytes(quota));
    }
    const maxTenants = this.opts.maxTenants;
    if (maxTenants === undefined) return [];
    const admitted: string[] = [];
    for (const op of ops) {
      if (op.type !== 'put') continue;
      const owner = ownerOf(op.key);
      // Only a key that makes the tenant count (not the account record a read creates) is refused at the cap.
      if (owner === null || owner.ns === GLOBAL_NS || !tenantAnchor(op.key) || this.ledger.hasTenant(owner.ns) || this.admitting.has(owner.ns)) continue;
      if (this.ledger.tenantCount() + this.admitting.size >= maxTenants) {
        for (const ns of admitted) this.admitting.delete(ns);
        throw this.refuse(quotaErrors.tenants(maxTenants));
      }
      this.admitting.add(owner.ns);
      admitted.push(owner.ns);
    }
    return admitted;
  }

  private refuse<E extends { kind: string }>(err: E): E {
    this.refused[err.kind] = (this.refused[err.kind] ?? 0) + 1;
    return err;
  }

  get(key: string): Promise<Entry | undefined> {
    return this.inner.get(key);
  }
  getMany(keys: readonly string[]): Promise<Array<Entry | undefined>> {
    return this.inner.getMany(keys);
  }
  range(prefix: string, opts?: RangeOptions): Promise<RangeResult> {
    return this.inner.range(prefix, opts);
  }
  count(prefix: string): Promise<number> {
    return this.inner.count(prefix);
  }
  grantLease(ttlMs: number): Promise<number> {
    return this.inner.grantLease(ttlMs);
  }
  keepAlive(lease: number): Promise<boolean> {
    return this.inner.keepAlive(lease);
  }
  revokeLease(lease: number): Promise<void> {
    return this.inner.revokeLease(lease);
  }
  watch(prefix: string, fromRevision: number, listener: (events: WatchEvent[]) => void, signal: AbortSignal): Promise<void> {
    return this.inner.watch(prefix, fromRevision, listener, signal);
  }
  revision(): Promise<number> {
    return this.inner.revision();
  }
  watchedRevision(): Promise<number> {
    return this.inner.watchedRevision();
  }
  /** Stops following the store and closes it. Idempotent. */
  async close(): Promise<void> {
    this.stop.abort();
    clearTimeout(this.timer);
    await this.inner.close();
  }
}

/** Only puts, one of them durable: a write that frees nothing. */
function refusedWhenFull(ops: readonly Op[]): boolean {
  let durable = false;
  for (const op of ops) {
    if (op.type !== 'put') return false;
    if (!op.lease) durable = true;
  }
  return durable;
}
