import type { Logger } from 'pino';
import type { Store, WatchEvent } from '../../store/store.js';
import { UsageTally } from './usage-tally.js';

// Config values are read per tenant (under `t/{t}/c/`), not the whole `t/` range full of events.
const SCANNED = ['a/', 'q/n/', 'q/d/', 'r/d/'];
/** Last-event keys read per getMany at start. */
const ANCHOR_BATCH = 100;

/**
 * What every tenant stores, derived from the store itself: one scan at start,
 * then the store's own change stream (every server's writes, ours included),
 * so the figures are right after a restart and with several servers over one
 * etcd.
 */
export class UsageLedger {
  private tally: UsageTally;
  /** Events since the running rescan began, replayed over its snapshot; undefined when none runs. */
  private sinceRescan: WatchEvent[] | undefined;
  private rescans = 0;

  /**
   * `countBytes` false keeps only the tenant count: counting bytes costs about
   * a microsecond per posted message, paid only when a storage quota is set.
   */
  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly countBytes = true,
  ) {
    this.tally = new UsageTally(countBytes);
  }

  /** Scans the store, then follows its changes until `signal` aborts. */
  async start(signal: AbortSignal): Promise<void> {
    const { tally, revision } = await this.scan();
    this.tally = tally;
    await this.store.watch('', revision + 1, (events) => this.apply(events), signal);
  }

  /**
   * Reads everything counted into a new tally. Each range is a snapshot at
   * its own revision, so the result is exact only with the changes since the
   * first one applied over it: at start the watch replays them (from
   * `revision` + 1), during a rescan `sinceRescan` holds them.
   */
  private async scan(): Promise<{ tally: UsageTally; revision: number }> {
    const tally = new UsageTally(this.countBytes);
    let first = -1;
    for (const prefix of SCANNED) {
      const { entries, revision } = await this.store.range(prefix);
      if (first < 0) first = revision;
      for (const e of entries) tally.put(e.key, e.value);
    }
    const { entries: accounts } = await this.store.range('a/');
    // The registry's anchors, one key per account (read after `first`: the changes since are applied over them, and puts are idempotent).
    for (let i = 0; i < accounts.length; i += ANCHOR_BATCH) {
      const batch = accounts.slice(i, i + ANCHOR_BATCH).map((a) => a.key.slice(2));
      const lasts = await this.store.getMany(batch.map((t) => `t/${t}/l`));
      for (const [j, e] of lasts.entries()) {
        if (e !== undefined) tally.put(e.key, e.value);
        // Sessions are read only where no last-event key counts the tenant: `l` is never deleted, so there they change nothing.
        else for (const s of (await this.store.range(`t/${batch[j]}/n/`)).entries) tally.put(s.key, s.value);
      }
    }
    if (this.countBytes) {
      for (const a of accounts) {
        for (const e of (await this.store.range(`t/${a.key.slice(2)}/c/`)).entries) tally.put(e.key, e.value);
      }
    }
    return { tally, revision: first };
  }

  private apply(events: WatchEvent[]): void {
    if (events.length === 0) {
      // The store lost its change stream: count again from scratch.
      void this.rescan();
      return;
    }
    const since = this.sinceRescan;
    for (const ev of events) {
      // The current tally keeps following (quota checks go on meanwhile); the rescan's tally gets these after its reads.
      this.tally.apply(ev);
      since?.push(ev);
    }
  }

  /**
   * A rescan reads into a new tally and swaps it in only after replaying the
   * events that arrived while it read: a range's snapshot may be older than
   * some of them (a deleted key still there, a grown one at its old size),
   * and clearing in place let that snapshot overwrite them. A newer rescan
   * (another loss) supersedes a running one.
   */
  private async rescan(): Promise<void> {
    const id = ++this.rescans;
    const since: WatchEvent[] = [];
    this.sinceRescan = since;
    try {
      const { tally } = await this.scan();
      if (id !== this.rescans) return;
      for (const ev of since) tally.apply(ev);
      this.tally = tally;
    } catch (err) {
      this.log.warn({ err }, 'quota: rescanning the store failed');
    } finally {
      if (id === this.rescans) this.sinceRescan = undefined;
    }
  }

  /** True while `ns` holds data: a registry write, a session, an event route or a queue (tenantAnchor). */
  hasTenant(ns: string): boolean {
    return this.tally.tenants.has(ns);
  }
  tenantCount(): number {
    return this.tally.tenants.size;
  }
  /** Whether bytes are counted (a storage quota is set): without, the byte figures stay 0. */
  get counting(): boolean {
    return this.countBytes;
  }
  /** Bytes of `ns` now (in counted keys). */
  usage(ns: string): number {
    return this.tally.bytes.get(ns) ?? 0;
  }
  /** The stored size of `key` when it is counted, else 0. */
  sizeOf(key: string): number {
    return this.tally.sizes.get(key) ?? 0;
  }
  /** Every namespace with counted bytes, and its bytes. */
  allUsage(): IterableIterator<[string, number]> {
    return this.tally.bytes.entries();
  }
}
