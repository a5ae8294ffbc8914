import type { Store } from '../store/store.js';
import { changesSince, extendBase, hasNews, type PageBase } from './event-tail.js';
import type { EventType, Page, RegistryEvent } from './types.js';

/** Bounds on the kept bases: one is kept per distinct last id answered, and an event may hold a big configuration value. */
const MAX_BASES = 10_000;
const MAX_CHARS = 8 * 1024 * 1024;

/** A base moved forward: the page now, with where its read started and its last event's key. */
export interface MovedBase {
  page: Page<RegistryEvent>;
  from: string;
  last: string | undefined;
}

interface Kept {
  base: PageBase;
  chars: number;
}

/**
 * Caught-up pages kept on a shared store (etcd) to be moved forward with the
 * watch history instead of read again (event-tail.ts), by what a read would
 * share (Events' share key). Bounded in entries and in event characters:
 * past either bound the oldest go first, so a full map costs one base's
 * followers a read, not every follower at once.
 *
 * A first look's move is shared too: N followers' next polls from one
 * marker at one watched revision cost one watch history replay (one
 * `store.watch`, a history scan, a JSON.parse per change), not N.
 */
export class EventBases {
  private readonly kept = new Map<string, Kept>();
  private chars = 0;
  /** First looks' moves by share key: the base they moved and the watched revision they were asked at. */
  private readonly looks = new Map<string, { base: PageBase; revision: number; page: Promise<Page<RegistryEvent> | undefined> }>();
  /** The newest watched revision a first look was asked at: `looks` holds nothing older. */
  private looksAt = 0;

  constructor(
    private readonly store: Store,
    private readonly maxBases = MAX_BASES,
    private readonly maxChars = MAX_CHARS,
  ) {}

  get(key: string): PageBase | undefined {
    return this.kept.get(key)?.base;
  }

  keep(key: string, base: PageBase): void {
    // Kept bases hold one event at most (a caught-up page or a page's tail): measured once, here.
    const chars = key.length + JSON.stringify(base.page.values).length;
    if (chars > this.maxChars) return;
    this.drop(key);
    // Map iterates in insertion order: the first key is the oldest.
    for (const oldest of this.kept.keys()) {
      if (this.kept.size < this.maxBases && this.chars + chars <= this.maxChars) break;
      this.drop(oldest);
    }
    this.kept.set(key, { base, chars });
    this.chars += chars;
  }

  get size(): number {
    return this.kept.size;
  }

  /** Characters of the keys and events held. */
  get heldChars(): number {
    return this.chars;
  }

  /** `base` moved forward with the watch history under `prefix`, or undefined when that gives up. */
  async moveForward(prefix: string, base: PageBase, type: EventType | null, limit: number): Promise<MovedBase | undefined> {
    const changes = await changesSince(this.store, prefix, base.revision + 1);
    const moved = changes === undefined ? undefined : extendBase(base, changes, type, limit);
    return moved === undefined ? undefined : { ...moved, from: base.from };
  }

  /**
   * The caught-up page of a first look from `marker` at watched revision
   * `revision`, from the base kept under `key`: undefined when there is
   * none, when moving gives up, or when something came after the marker.
   * Shared by first looks with the same key at a revision at most the one
   * it was asked at: its history reaches at least their revision, and they
   * park from theirs + 1, so whatever it did not show wakes them.
   */
  caughtUp(key: string, prefix: string, marker: string, type: EventType | null, limit: number, revision: number): Promise<Page<RegistryEvent> | undefined> | undefined {
    const base = this.get(key);
    if (base === undefined) return undefined;
    if (revision > this.looksAt) {
      this.looksAt = revision;
      this.looks.clear();
    }
    const shared = this.looks.get(key);
    if (shared !== undefined && shared.base === base && shared.revision >= revision) return shared.page;
    const page = this.moveForward(prefix, base, type, limit).then((m) => (m === undefined || hasNews(m.page, marker) ? undefined : m.page));
    // A failed move (the store's fault) is not shared past its own polls.
    page.catch(() => {
      if (this.looks.get(key)?.page === page) this.looks.delete(key);
    });
    this.looks.delete(key);
    if (this.looks.size >= this.maxBases) this.looks.delete(this.looks.keys().next().value as string);
    this.looks.set(key, { base, revision, page });
    return page;
  }

  private drop(key: string): void {
    const k = this.kept.get(key);
    if (k === undefined) return;
    this.kept.delete(key);
    this.chars -= k.chars;
  }
}
