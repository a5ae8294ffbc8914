import { TetherError } from '../lib/errors.js';
import { ensureAccount, type AccountRecord, type Ctx } from './context.js';
import { EventBases, type MovedBase } from './event-bases.js';
import { hasNews, tailBase } from './event-tail.js';
import { EventPoll, type EventAnswer } from './event-poll.js';
import { mayRetryRead, SharedPause } from './event-retry.js';
import { EventWaits } from './event-waits.js';
import type { Expirer } from './expiry.js';
import { faults } from './faults.js';
import { keys } from './keys.js';
import { scan, toPage } from './paging.js';
import { boundaryUuid, uuidProblem, uuidTime } from './time-uuid.js';
import type { EventListOptions, EventType, Page, RegistryEvent } from './types.js';
import { parseEventType, parseLimit, parseWait } from './validate.js';

const UNMARKED_WINDOW_MS = 60 * 60 * 1000;
/** What a long-poll aborted without a reason throws. */
const ABORTED = new TetherError('registry.aborted', 'The long-poll was ended.');
/** Bound on `reading` (distinct reads kept while the revision stands still). */
const MAX_SHARED_READS = 10_000;

/**
 * The events feed of spec section 9, in commit order. A marker that is an
 * event id resumes at that event (inclusive); any other time UUID is a time
 * cursor. Events committed later never sort before a marker taken earlier,
 * which is what lets followers long-poll without missing anything.
 */
export class Events {
  /** Reads in flight, and caught-up pages read with a marker at `readAt`, by what they read, with the watched revision they were issued at. */
  private readonly reading = new Map<string, { revision: number; page: Promise<Page<RegistryEvent>> }>();
  /** The newest watched revision a read was issued at: `reading` holds nothing older. */
  private readAt = 0;
  /** Caught-up pages by what they read, kept across revisions to be moved forward (shared stores only). */
  private readonly bases: EventBases;
  private readonly waits: EventWaits;
  /** The pause of polls reading again after a transient store fault. */
  private readonly faultPause = new SharedPause();

  constructor(
    private readonly ctx: Ctx,
    private readonly expirer: Expirer,
    /** Aborted when the registry closes: ends every long-poll with its reason. */
    private readonly stopped?: AbortSignal,
  ) {
    this.waits = new EventWaits(ctx.store, keys.eventPrefix, stopped);
    this.bases = new EventBases(ctx.store);
  }

  /**
   * Validation order of the original: limit, marker format, future, before
   * creation, type. With `wait` (extension) the call is held until an event
   * other than the marker's own exists, for at most `wait` seconds, then
   * answers as without it (possibly an empty page). `opts.hold` (the
   * server's) ends the wait early when aborted, in place of `signal`.
   */
  list(tenant: string, opts: EventListOptions = {}, signal?: AbortSignal): Promise<Page<RegistryEvent>> {
    return new Promise((resolve, reject) => this.poll(tenant, opts, { resolve, reject }, signal));
  }

  /** list(), answered through `answer` (the server's long-poll) instead of a promise. */
  poll(tenant: string, opts: EventListOptions, answer: EventAnswer, signal?: AbortSignal): void {
    this.start(tenant, opts, signal, answer).catch((err: unknown) => answer.reject(err));
  }

  private async start(tenant: string, opts: EventListOptions, signal: AbortSignal | undefined, answer: EventAnswer): Promise<void> {
    const limit = parseLimit(opts.limit);
    const account = await ensureAccount(this.ctx, tenant);
    const marker = opts.marker === undefined || opts.marker === '' ? null : opts.marker.toLowerCase();
    if (marker !== null) await this.checkMarker(tenant, marker, account);
    const type = parseEventType(opts.type);
    const waitMs = parseWait(opts.wait) * 1000;
    await this.look(new EventPoll(this, tenant, account, marker, type, limit, Date.now() + waitMs, opts.hold, signal, answer), false);
  }

  /**
   * One look at the feed: answers the poll, or parks it on the waits. A
   * parked poll holds no frame of this function (only its EventPoll): its
   * wake calls resume(), which looks again. Only a woken poll answers from
   * the watch history (readOrExtend): its wake says the watch brought the
   * change. A first look may come before the watch brought back what the
   * caller itself just wrote, so it uses that history only to park
   * (caughtUp), never to answer.
   */
  private async look(p: EventPoll, woken: boolean): Promise<void> {
    let revision: number;
    let page: Page<RegistryEvent>;
    let left: number;
    try {
      await this.expirer.run(p.tenant);
      revision = await this.ctx.store.watchedRevision();
      // A first look that will wait parks without a read when its kept page, moved forward with the watch
      // history, is still caught up: anything newer is either in that history or wakes the wait.
      const parked = woken || p.until <= Date.now() ? undefined : await this.caughtUp(p.tenant, p.marker, p.type, p.limit, revision);
      page = parked ?? (await this.readShared(p.tenant, p.account, p.marker, p.type, p.limit, revision, woken));
      left = p.until - Date.now();
      // Not answered from the kept page: what the caller just wrote may not be back through the watch yet.
      if (parked !== undefined && (hasNews(page, p.marker) || left <= 0)) {
        return p.answer.resolve(await this.readShared(p.tenant, p.account, p.marker, p.type, p.limit, revision, false));
      }
    } catch (err) {
      // A transient store fault (etcd past its deadline) is read again while the wait lasts (event-retry.ts).
      if (!mayRetryRead(err, p.until)) throw err;
      await this.faultPause.wait();
      this.throwIfEnded(p);
      return this.look(p, woken);
    }
    // The marker is inclusive, so a follower passing its last id gets that
    // event back: only something newer ends the wait.
    if (hasNews(page, p.marker) || left <= 0) return p.answer.resolve(page);
    // A server's long-poll brings its hold (ended by the server), an in-process caller a signal.
    this.waits.park(p.tenant, revision + 1, left, p.hold ?? p.signal, p);
  }

  /** The wait of `p` ended (EventWaits, through `p.woke`): it fails with `err`, or when it was ended, or looks again. */
  resume(p: EventPoll, err: unknown): void {
    if (err !== undefined) return p.answer.reject(err);
    try {
      this.throwIfEnded(p);
    } catch (e) {
      return p.answer.reject(e);
    }
    this.look(p, true).catch((e: unknown) => p.answer.reject(e));
  }

  /** Throws when the poll was ended (by the server's hold, the caller's signal) or the registry closed. */
  private throwIfEnded(p: EventPoll): void {
    if (p.hold?.aborted === true) throw p.hold.reason ?? ABORTED;
    p.signal?.throwIfAborted();
    this.stopped?.throwIfAborted();
  }

  /** Deletes events (and id index entries) older than the retention window. */
  async trim(tenant: string): Promise<void> {
    const cutoff = boundaryUuid(this.ctx.clock.now() - this.ctx.opts.eventRetentionMs, 'min');
    await this.ctx.store.txn(
      [],
      [
        { type: 'deleteRange', start: keys.eventPrefix(tenant), end: keys.event(tenant, cutoff) },
        { type: 'deleteRange', start: keys.eventIdPrefix(tenant), end: keys.eventId(tenant, cutoff) },
      ],
    );
  }

  private async checkMarker(tenant: string, marker: string, account: AccountRecord): Promise<void> {
    const problem = uuidProblem(marker);
    if (problem) throw faults.badRequestSame(problem);
    const t = uuidTime(marker);
    // Ahead of this server's clock but not past the last committed event: another
    // registry server, whose clock runs ahead, wrote it (commit ids follow the last one).
    if (t > this.ctx.clock.now() && !(await this.committedBy(tenant, t))) {
      throw faults.badRequestSame('from parameter must be smaller than the current time');
    }
    if (t < account.created_at) {
      throw faults.badRequestSame('from parameter must be greater than or equal to the account creation date');
    }
  }

  /** True when the tenant's last committed event is at or after time `t` (ms). */
  private async committedBy(tenant: string, t: number): Promise<boolean> {
    const last = await this.ctx.store.get(keys.lastEvent(tenant));
    return last !== undefined && uuidTime(last.value) >= t;
  }

  /**
   * `read`, shared by identical calls: when many followers wake on the same
   * change with the same marker (the common case: all caught up), one read
   * answers them all. A call joins only a read issued at a watched revision at
   * least its own, so the page shows everything up to the revision it will
   * watch from.
   */
  private readShared(
    tenant: string,
    account: AccountRecord,
    marker: string | null,
    type: EventType | null,
    limit: number,
    revision: number,
    woken: boolean,
  ): Promise<Page<RegistryEvent>> {
    // Until the revision moves, a page read with a marker stays exact: a
    // follower re-polling from the id it was just given finds it here instead
    // of reading again (10,000 followers re-arm on one read per wake).
    if (revision > this.readAt || this.reading.size >= MAX_SHARED_READS) {
      this.readAt = revision;
      this.reading.clear();
    }
    const key = shareKey(tenant, marker, type, limit);
    const running = this.reading.get(key);
    if (running !== undefined && running.revision >= revision) return running.page;
    const forget = (): void => {
      if (this.reading.get(key)?.page === page) this.reading.delete(key);
    };
    // Kept once read: only a caught-up page (the marker's own event at most), so
    // the cache stays small. Without a marker the page depends on the clock
    // too (the last hour): shared while in flight only.
    const read = woken ? this.readOrExtend(key, tenant, account, marker, type, limit) : this.read(tenant, account, marker, type, limit);
    const page = read.then((r) => r.page);
    read.then((r) => {
      // The follower's next poll comes from this page's last id: its caught-up page is known already.
      const tail = this.ctx.store.shared ? tailBase(r.page, r.last, revision, limit) : undefined;
      if (tail !== undefined) this.bases.keep(shareKey(tenant, tail.page.values[0]?.id ?? null, type, limit), tail);
      if (marker === null || r.page.values.length > 1 || r.page.metadata.next_marker !== null) return forget();
      if (this.ctx.store.shared) this.bases.keep(key, { page: r.page, from: r.from, revision, last: r.last });
    }, forget);
    this.reading.set(key, { revision, page });
    return page;
  }

  /**
   * For a woken poll on a shared store (etcd), a caught-up page read before
   * is moved forward with the watch history (event-tail.ts): the wake means
   * the watch brought the change, so the poll answers without a round trip.
   * Otherwise, or when that gives up, a read.
   */
  private async readOrExtend(
    key: string,
    tenant: string,
    account: AccountRecord,
    marker: string | null,
    type: EventType | null,
    limit: number,
  ): Promise<Read> {
    const base = marker === null ? undefined : this.bases.get(key);
    const moved = base === undefined ? undefined : await this.bases.moveForward(keys.eventPrefix(tenant), base, type, limit);
    return moved ?? this.read(tenant, account, marker, type, limit);
  }

  /**
   * The caught-up page of a first look with a kept base on a shared store
   * (etcd), with no read: undefined when there is none, when it gives up, or
   * when something came after the marker (then the caller reads). Shared by
   * the first looks of one marker at one watched revision (event-bases.ts).
   */
  private caughtUp(tenant: string, marker: string | null, type: EventType | null, limit: number, revision: number): Promise<Page<RegistryEvent> | undefined> | undefined {
    if (marker === null || !this.ctx.store.shared) return undefined;
    return this.bases.caughtUp(shareKey(tenant, marker, type, limit), keys.eventPrefix(tenant), marker, type, limit, revision);
  }

  private async read(
    tenant: string,
    account: AccountRecord,
    marker: string | null,
    type: EventType | null,
    limit: number,
  ): Promise<Read> {
    const prefix = keys.eventPrefix(tenant);
    let found: Scanned[];
    let from: string;
    if (marker !== null) {
      // Most markers are commit ids, which have no id index entry: the scan
      // from the marker's own key runs beside the index lookup (one round trip
      // on etcd, not two) and is thrown away when the index names another key.
      const guess = keys.event(tenant, marker);
      const [indexed, scanned] = await Promise.all([
        this.ctx.store.get(keys.eventId(tenant, marker)),
        // A failed guess is read again below, where its error is the one thrown.
        this.scanEvents(prefix, guess, type, limit).catch(() => null),
      ]);
      from = indexed?.value ?? guess;
      found = from === guess && scanned !== null ? scanned : await this.scanEvents(prefix, from, type, limit);
    } else {
      const since = Math.max(this.ctx.clock.now() - UNMARKED_WINDOW_MS, account.created_at);
      from = keys.event(tenant, boundaryUuid(since, 'min'));
      found = await this.scanEvents(prefix, from, type, limit);
    }
    const next = found[limit];
    const shown = found.slice(0, limit);
    // The original always answered metadata.marker = null for events (spec 4).
    return { page: toPage(shown.map((f) => f.event), limit, undefined, next ? next.event.id : null), from, last: shown.at(-1)?.key };
  }

  /** Up to `limit + 1` events of `type` (any: null) from key `from` on, parsed, with their keys. */
  private async scanEvents(prefix: string, from: string, type: EventType | null, limit: number): Promise<Scanned[]> {
    const parsed = new Map<string, RegistryEvent>();
    const keep = (e: { key: string; value: string }): boolean => {
      const ev = JSON.parse(e.value) as RegistryEvent;
      parsed.set(e.key, ev);
      return type === null || ev.type === type;
    };
    const kept = await scan(this.ctx, prefix, from, limit + 1, keep);
    return kept.map((e) => ({ key: e.key, event: parsed.get(e.key) as RegistryEvent }));
  }
}

/** A page as read (or moved forward), with the key its read started from and its last event's key. */
type Read = MovedBase;

interface Scanned {
  key: string;
  event: RegistryEvent;
}

/** What identical calls share a read (and a kept base) by. */
function shareKey(tenant: string, marker: string | null, type: EventType | null, limit: number): string {
  return `${tenant}\0${marker ?? ''}\0${type ?? ''}\0${limit}`;
}
