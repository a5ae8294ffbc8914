import type { Logger } from 'pino';
import type { Store, WatchEvent } from '../../store/store.js';
import { entryBytes, GLOBAL_NS, ownerOf, tenantAnchor } from './tenant-keys.js';

// Config values are read per tenant (under `t/{t}/c/`), not the whole `t/` range full of events.
const SCANNED = ['a/', 'q/n/', 'q/d/', 'r/d/'];
/** Last-event keys read per getMany at start. */
const ANCHOR_BATCH = 100;

/**
 * What every tenant stores, derived from the store itself: one scan at start,
 * then the store's own change stream (every server's writes, ours included),
 * so the figures are right after a restart and with several servers over one
 * etcd. Sizes are kept per counted key because a delete event carries no value.
 */
export class UsageLedger {
  private readonly sizes = new Map<string, number>();
  private readonly bytes = new Map<string, number>();
  /** The tenant-anchor keys present (tenantAnchor), and how many each namespace has: a tenant counts while it has one. */
  private readonly anchors = new Set<string>();
  private readonly tenants = new Map<string, number>();

  /**
   * `countBytes` false keeps only the tenant count: counting bytes costs about
   * a microsecond per posted message, paid only when a storage quota is set.
   */
  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly countBytes = true,
  ) {}

  /** Scans the store, then follows its changes until `signal` aborts. */
  async start(signal: AbortSignal): Promise<void> {
    const from = await this.scan();
    await this.store.watch('', from + 1, (events) => this.apply(events), signal);
  }

  private async scan(): Promise<number> {
    this.sizes.clear();
    this.bytes.clear();
    this.anchors.clear();
    this.tenants.clear();
    let first = -1;
    for (const prefix of SCANNED) {
      const { entries, revision } = await this.store.range(prefix);
      if (first < 0) first = revision;
      for (const e of entries) this.put(e.key, e.value);
    }
    const { entries: accounts } = await this.store.range('a/');
    // The registry's anchors, one key per account (read after `first`: the watch replays what changed since, and puts are idempotent).
    for (let i = 0; i < accounts.length; i += ANCHOR_BATCH) {
      const batch = accounts.slice(i, i + ANCHOR_BATCH).map((a) => a.key.slice(2));
      const lasts = await this.store.getMany(batch.map((t) => `t/${t}/l`));
      for (const [j, e] of lasts.entries()) {
        if (e !== undefined) this.put(e.key, e.value);
        // Sessions are read only where no last-event key counts the tenant: `l` is never deleted, so there they change nothing.
        else for (const s of (await this.store.range(`t/${batch[j]}/n/`)).entries) this.put(s.key, s.value);
      }
    }
    if (!this.countBytes) return first;
    for (const a of accounts) {
      for (const e of (await this.store.range(`t/${a.key.slice(2)}/c/`)).entries) this.put(e.key, e.value);
    }
    return first;
  }

  private apply(events: WatchEvent[]): void {
    if (events.length === 0) {
      // The store lost its change stream: count again from scratch.
      this.scan().catch((err: unknown) => this.log.warn({ err }, 'quota: rescanning the store failed'));
      return;
    }
    for (const ev of events) {
      if (ev.type === 'put' && ev.value !== null) this.put(ev.key, ev.value);
      else this.drop(ev.key);
    }
  }

  private put(key: string, value: string): void {
    const owner = ownerOf(key);
    if (owner === null) return;
    if (owner.ns !== GLOBAL_NS && !this.anchors.has(key) && tenantAnchor(key)) {
      this.anchors.add(key);
      this.tenants.set(owner.ns, (this.tenants.get(owner.ns) ?? 0) + 1);
    }
    if (!owner.counted || !this.countBytes) return;
    const size = entryBytes(key, value);
    this.bytes.set(owner.ns, (this.bytes.get(owner.ns) ?? 0) + size - (this.sizes.get(key) ?? 0));
    this.sizes.set(key, size);
  }

  private drop(key: string): void {
    if (this.anchors.delete(key)) {
      const ns = ownerOf(key)?.ns ?? '';
      const left = (this.tenants.get(ns) ?? 1) - 1;
      if (left > 0) this.tenants.set(ns, left);
      else this.tenants.delete(ns);
    }
    const size = this.sizes.get(key);
    if (size === undefined) return;
    this.sizes.delete(key);
    const owner = ownerOf(key);
    if (owner !== null) this.bytes.set(owner.ns, (this.bytes.get(owner.ns) ?? 0) - size);
  }

  /** True while `ns` holds data: a registry write, a session, an event route or a queue (tenantAnchor). */
  hasTenant(ns: string): boolean {
    return this.tenants.has(ns);
  }
  tenantCount(): number {
    return this.tenants.size;
  }
  /** Whether bytes are counted (a storage quota is set): without, the byte figures stay 0. */
  get counting(): boolean {
    return this.countBytes;
  }
  /** Bytes of `ns` now (in counted keys). */
  usage(ns: string): number {
    return this.bytes.get(ns) ?? 0;
  }
  /** The stored size of `key` when it is counted, else 0. */
  sizeOf(key: string): number {
    return this.sizes.get(key) ?? 0;
  }
  /** Every namespace with counted bytes, and its bytes. */
  allUsage(): IterableIterator<[string, number]> {
    return this.bytes.entries();
  }
}
