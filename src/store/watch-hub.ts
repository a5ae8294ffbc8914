import { TetherError } from '../lib/errors.js';
import type { WatchEvent } from './store.js';

/**
 * Watch support shared by the store engines: a ring of recent events for
 * watch-from-revision, and a hub that fans each change out to the watchers
 * whose prefix matches. `WatchFeed` puts them together behind `watch()`.
 */

export type Listener = (events: WatchEvent[]) => void;


/** The most recent `capacity` watch events, oldest first. */
export class WatchHistory {
  private readonly ring: WatchEvent[] = [];
  private head = 0;

  /** @param compacted highest revision whose events may be missing. */
  constructor(
    private readonly capacity: number,
    public compacted: number,
  ) {}

  push(event: WatchEvent): void {
    if (this.ring.length < this.capacity) {
      this.ring.push(event);
      return;
    }
    if (this.capacity === 0) {
      this.compacted = Math.max(this.compacted, event.revision);
      return;
    }
    // Never lower: a reset (the store lost changes up to a later revision) may have raised it past the ring.
    this.compacted = Math.max(this.compacted, this.ring[this.head]!.revision);
    this.ring[this.head] = event;
    this.head = (this.head + 1) % this.capacity;
  }

  /** Returns the kept events at revision >= `from` whose key starts with `prefix`. */
  since(from: number, prefix: string): WatchEvent[] {
    const n = this.ring.length;
    const at = (i: number): WatchEvent => this.ring[(this.head + i) % n]!;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (at(mid).revision < from) lo = mid + 1;
      else hi = mid;
    }
    const out: WatchEvent[] = [];
    for (let i = lo; i < n; i++) {
      const e = at(i);
      if (e.key.startsWith(prefix)) out.push(e);
    }
    return out;
  }
}

export interface Watcher {
  prefix: string;
  listener: Listener;
  /** Events below this revision were delivered as history (or predate `fromRevision`). */
  minRevision: number;
  signal: AbortSignal;
  onAbort: () => void;
  active: boolean;
}

/**
 * Live watchers grouped by prefix. Matching an event costs one Map lookup per
 * distinct prefix length (not per watcher), so 1,000 watchers stay cheap.
 * Each watcher gets one array per txn. Publishes made from inside a listener
 * are queued until the current delivery ends, so every watcher sees
 * revisions in order.
 */
export class WatchHub {
  private readonly byPrefix = new Map<string, Set<Watcher>>();
  private readonly lengthUse = new Map<number, number>();
  /** Distinct prefix lengths, ascending. */
  private lengths: number[] = [];
  private delivering = false;
  private readonly queue: WatchEvent[][] = [];

  add(w: Watcher): void {
    let set = this.byPrefix.get(w.prefix);
    if (set === undefined) {
      set = new Set();
      this.byPrefix.set(w.prefix, set);
      this.useLength(w.prefix.length, 1);
    }
    set.add(w);
  }

  /** Stops delivery to `w` and detaches its abort listener. Idempotent. */
  remove(w: Watcher): void {
    if (!w.active) return;
    w.active = false;
    w.signal.removeEventListener('abort', w.onAbort);
    const set = this.byPrefix.get(w.prefix);
    if (set === undefined || !set.delete(w) || set.size > 0) return;
    this.byPrefix.delete(w.prefix);
    this.useLength(w.prefix.length, -1);
  }

  removeAll(): void {
    for (const set of [...this.byPrefix.values()]) for (const w of [...set]) this.remove(w);
  }

  /** Calls every active watcher with `events` as they are (no prefix or revision filter). */
  broadcast(events: WatchEvent[]): void {
    this.exclusive(() => {
      for (const set of [...this.byPrefix.values()]) for (const w of [...set]) this.call(w, events);
    });
  }

  /** Delivers one txn's events (all at one revision) to the matching watchers. */
  publish(events: WatchEvent[]): void {
    if (this.delivering) this.queue.push(events);
    else if (this.byPrefix.size > 0) this.exclusive(() => this.deliver(events));
  }

  /** Runs `fn`; publishes it (or its listeners) cause are delivered after it, in order. */
  exclusive(fn: () => void): void {
    if (this.delivering) {
      fn();
      return;
    }
    this.delivering = true;
    try {
      fn();
      for (let i = 0; i < this.queue.length; i++) this.deliver(this.queue[i]!);
    } finally {
      this.queue.length = 0;
      this.delivering = false;
    }
  }

  /** Calls `w.listener(events)`; a throwing listener is a bug, re-raised asynchronously. */
  call(w: Watcher, events: WatchEvent[]): void {
    if (!w.active) return;
    try {
      w.listener(events);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  private deliver(events: WatchEvent[]): void {
    const batches = this.match(events);
    if (batches !== undefined) for (const [w, batch] of batches) this.call(w, batch);
  }

  private match(events: WatchEvent[]): Map<Watcher, WatchEvent[]> | undefined {
    let batches: Map<Watcher, WatchEvent[]> | undefined;
    for (const ev of events) {
      for (const len of this.lengths) {
        if (len > ev.key.length) break;
        const set = this.byPrefix.get(ev.key.slice(0, len));
        if (set === undefined) continue;
        for (const w of set) {
          if (ev.revision < w.minRevision) continue;
          batches ??= new Map();
          const batch = batches.get(w);
          if (batch === undefined) batches.set(w, [ev]);
          else batch.push(ev);
        }
      }
    }
    return batches;
  }

  private useLength(len: number, delta: number): void {
    const n = (this.lengthUse.get(len) ?? 0) + delta;
    if (n > 0) this.lengthUse.set(len, n);
    else this.lengthUse.delete(len);
    if (n === 1 || n === 0) this.lengths = [...this.lengthUse.keys()].sort((a, b) => a - b);
  }
}

/**
 * History plus hub: what a store needs for `Store.watch`. The store calls
 * `push` with each committed change (in revision order) and moves `position`
 * to the revision it has applied.
 */
export class WatchFeed {
  private readonly hub = new WatchHub();
  private readonly history: WatchHistory;

  /** @param position the revision the store starts at; history before it is not kept. */
  constructor(
    capacity: number,
    public position: number,
  ) {
    this.history = new WatchHistory(capacity, position);
  }

  /** Records and delivers the changes of one or more txns, in revision order. */
  push(events: WatchEvent[]): void {
    for (const ev of events) {
      this.history.push(ev);
      if (ev.revision > this.position) this.position = ev.revision;
    }
    this.hub.publish(events);
  }

  /**
   * The store lost track of changes up to `revision` (its change stream broke
   * and history is gone): forgets history up to there and calls every
   * watcher with an empty batch, which means "re-read what you watch".
   */
  reset(revision: number): void {
    this.history.compacted = Math.max(this.history.compacted, revision);
    if (revision > this.position) this.position = revision;
    this.hub.broadcast([]);
  }

  /** `Store.watch` over this feed. */
  watch(prefix: string, fromRevision: number, listener: Listener, signal: AbortSignal): void {
    if (signal.aborted) return;
    if (Math.max(fromRevision, 1) <= this.history.compacted) {
      throw new TetherError('store.compacted', `revision ${fromRevision} is compacted (history starts after ${this.history.compacted})`);
    }
    const minRevision = Math.max(fromRevision, this.position + 1);
    const w: Watcher = { prefix, listener, minRevision, signal, onAbort: () => this.hub.remove(w), active: true };
    this.hub.add(w);
    signal.addEventListener('abort', w.onAbort, { once: true });
    const past = fromRevision <= this.position ? this.history.since(fromRevision, prefix) : [];
    if (past.length > 0) this.hub.exclusive(() => this.hub.call(w, past));
  }

  /** Detaches every watcher. */
  close(): void {
    this.hub.removeAll();
  }
}
