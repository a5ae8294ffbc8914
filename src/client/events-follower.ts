import { TetherError } from '../lib/errors.js';
import { isFault } from '../registry/faults.js';
import type { Registry } from '../registry/registry.js';
import { EVENT_TYPES, type EventType, type RegistryEvent } from '../registry/types.js';
import { Backoff, sleep } from '../lib/backoff.js';

export interface EventsFollowerOptions {
  registry: Registry;
  tenant: string;
  /** Where to resume: the id of the last event already handled, or null (the server's last hour). */
  marker?: string | null | undefined;
  /** Long-poll seconds per request (0..60, default 30). 0 turns the follower into a tight poller: avoid. */
  waitSec?: number | undefined;
  /** Page size (1..1000); the server's default (100) when absent. */
  limit?: number | undefined;
  /** Only events of this type (filtered by the server before paging). */
  type?: EventType | undefined;
  /**
   * Receives each non-empty batch, in feed order, with the marker to persist
   * once it is handled. The marker advances only after this resolves; if it
   * throws, the batch is delivered again after a backoff (at-least-once).
   */
  onEvents: (events: RegistryEvent[], marker: string) => void | Promise<void>;
  /**
   * The registry rejected the marker (AMB-14: e.g. it lost the account's
   * creation time, or the marker is from the future). The follower restarts
   * from null; the caller should resync fully, as events may have been missed.
   */
  onReset?: (() => void | Promise<void>) | undefined;
  /** Every other failure (the loop retries with backoff); for logs and metrics. */
  onError?: ((err: unknown) => void) | undefined;
  /**
   * Pause between requests, ms, when the server answers a long-poll at once
   * with nothing new, i.e. does not hold requests (default 1000). See `run`.
   */
  pollIntervalMs?: number | undefined;
  random?: (() => number) | undefined;
}

/**
 * Follows a tenant's event feed with long-polls (the `wait` extension),
 * following the official poller (spec 9.3): send the last id seen as the
 * marker, drop values[0] when it is that marker, deliver the rest, move the
 * marker to the last id delivered.
 *
 * Ids are never sorted or compared: the feed is in commit order, and a
 * service.timeout event's id (the expired token) can be older than its
 * neighbours. Only equality with the marker sent, and "last element", matter.
 */
export class EventsFollower {
  private currentMarker: string | null;
  /** next_marker of a page that held only the marker: the next request starts there and keeps its first element. */
  private unseenNext: string | null = null;
  private readonly waitSec: number;
  // Retry on failure: 100 ms doubling to 5 s, equal jitter so that many agents
  // that lost the same registry do not come back in lock-step.
  private readonly backoff: Backoff;
  private ac: AbortController | undefined;
  private loop: Promise<void> = Promise.resolve();

  constructor(private readonly opts: EventsFollowerOptions) {
    if (opts.type !== undefined && !(EVENT_TYPES as readonly string[]).includes(opts.type)) {
      throw new TetherError('client.invalidOption', `unknown event type: ${String(opts.type)}`);
    }
    this.currentMarker = opts.marker ?? null;
    const wait = opts.waitSec ?? 30;
    // Clamped here because a bad `wait` would be a 400 badRequest, which the loop reads as a rejected marker.
    this.waitSec = Number.isFinite(wait) ? Math.min(60, Math.max(0, wait)) : 30;
    this.backoff = new Backoff({ initialMs: 100, maxMs: 5000, jitter: 0.5, random: opts.random });
  }

  /** The id of the last event delivered (and handled), or null. */
  get marker(): string | null {
    return this.currentMarker;
  }

  /**
   * Runs the loop until `stop()` or `signal` aborts. Resolves when the loop
   * has ended; never rejects (failures go to `onError` and are retried).
   * Calling it while running returns the running loop.
   */
  start(signal?: AbortSignal): Promise<void> {
    if (this.ac && !this.ac.signal.aborted) return this.loop;
    const ac = new AbortController();
    this.ac = ac;
    if (signal) {
      if (signal.aborted) ac.abort();
      signal.addEventListener('abort', () => ac.abort(), { once: true, signal: ac.signal });
    }
    this.loop = this.run(ac.signal);
    return this.loop;
  }

  /** Aborts the in-flight long-poll and resolves once the loop has ended. Idempotent. */
  async stop(): Promise<void> {
    this.ac?.abort();
    await this.loop;
  }

  private async run(signal: AbortSignal): Promise<void> {
    let wait = this.waitSec;
    while (!signal.aborted) {
      try {
        const started = Date.now();
        const { more, delivered } = await this.poll(wait, signal);
        this.backoff.reset();
        // A full page means more is waiting: ask again at once, without holding the request.
        wait = more ? 0 : this.waitSec;
        // Nothing new, and back well before `wait`: this server does not hold
        // requests (the original ignores `wait`). Poll at an interval rather
        // than spin.
        if (!more && !delivered && wait > 0 && Date.now() - started < (wait * 1000) / 2) {
          await sleep(this.opts.pollIntervalMs ?? 1000, signal);
        }
      } catch (err) {
        if (signal.aborted) break;
        if (await this.resetIfMarkerRejected(err)) continue;
        this.report(err);
        await sleep(this.backoff.next(), signal);
      }
    }
  }

  /** One request and its delivery: whether events were delivered, and whether another page follows. */
  private async poll(wait: number, signal: AbortSignal): Promise<{ more: boolean; delivered: boolean }> {
    // After a page that held only the marker's own event (limit=1), resume at
    // next_marker, an event not seen yet: that request keeps its first element.
    const unseen = this.unseenNext;
    const sent = unseen ?? this.currentMarker;
    const page = await this.opts.registry.listEvents(
      this.opts.tenant,
      { marker: sent ?? undefined, wait: unseen === null ? wait : 0, limit: this.opts.limit, type: this.opts.type },
      signal,
    );
    if (signal.aborted) return { more: false, delivered: false };
    this.unseenNext = null;
    const events = unseen === null && sent !== null && page.values[0]?.id === sent ? page.values.slice(1) : page.values;
    const last = events[events.length - 1];
    if (last !== undefined) {
      await this.opts.onEvents(events, last.id);
      if (signal.aborted) return { more: false, delivered: false };
      this.currentMarker = last.id;
    } else if (page.metadata.next_marker !== null) {
      this.unseenNext = page.metadata.next_marker;
      return { more: true, delivered: false };
    }
    return { more: page.metadata.next_marker !== null && last !== undefined, delivered: last !== undefined };
  }

  /**
   * AMB-14: a 400 badRequest to a request that carried a marker is about the
   * marker (type and wait are validated here or fixed by us), so start over
   * from null and let the caller resync. No message text is inspected.
   */
  private async resetIfMarkerRejected(err: unknown): Promise<boolean> {
    if ((this.currentMarker === null && this.unseenNext === null) || !isFault(err, 'badRequest')) return false;
    this.currentMarker = null;
    this.unseenNext = null;
    try {
      await this.opts.onReset?.();
    } catch (resetErr) {
      this.report(resetErr);
    }
    return true;
  }

  private report(err: unknown): void {
    try {
      this.opts.onError?.(err);
    } catch {
      // A logging callback that throws must not end the loop.
    }
  }
}
