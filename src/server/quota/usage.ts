import type { Logger } from 'pino';
import type { Store, WatchEvent } from '../../store/store.js';
import { entryBytes, GLOBAL_NS, ownerOf } from './tenant-keys.js';

// Config values are read per tenant (under `t/{t}/c/`), not the whole `t/` range full of events.
const SCANNED = ['a/', 'q/n/', 'q/d/', 'r/d/'];

/**
 * What every tenant stores, derived from the store itself: one scan at start,
 * then the store's own change stream (every server's writes, ours included),
 * so the figures are right after a restart and with several servers over one
 * etcd. Sizes are kept per counted key because a delete event carries no value.
 */
export class UsageLedger {
  private readonly sizes = new Map<string, number>();
  private readonly bytes = new Map<string, number>();
  private readonly tenants = new Set<string>();

  /** The last tenant added: a run of one tenant's writes skips the set. */
  private lastNs = '';

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
    this.tenants.clear();
    this.lastNs = '';
    let first = -1;
    for (const prefix of SCANNED) {
      const { entries, revision } = await this.store.range(prefix);
      if (first < 0) first = revision;
      for (const e of entries) this.put(e.key, e.value);
    }
    const { entries: accounts } = await this.store.range('a/');
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
    if (owner.ns !== this.lastNs) {
      this.lastNs = owner.ns;
      if (owner.ns !== GLOBAL_NS) this.tenants.add(owner.ns);
    }
    if (!owner.counted || !this.countBytes) return;
    const size = entryBytes(key, value);
    this.bytes.set(owner.ns, (this.bytes.get(owner.ns) ?? 0) + size - (this.sizes.get(key) ?? 0));
    this.sizes.set(key, size);
  }

  private drop(key: string): void {
    const size = this.sizes.get(key);
    if (size === undefined) return;
    this.sizes.delete(key);
    const owner = ownerOf(key);
    if (owner !== null) this.bytes.set(owner.ns, (this.bytes.get(owner.ns) ?? 0) - size);
  }

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
