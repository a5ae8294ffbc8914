import { TetherError } from '../lib/errors.js';

/**
 * Group commit for the etcd store: concurrent calls are queued and sent as
 * one etcd request, because etcd's JSON gateway costs CPU per request far
 * more than per operation in it (bench/README.md, "Heartbeats on etcd:
 * batching"). An idle store sends a call at once (one microtask later, so
 * calls made in the same tick share a request); while a batch is out, later
 * calls wait and leave together when it comes back, unless half a batch's
 * weight (or of its bytes) is waiting: then another goes (up to
 * `maxInFlight`), so heavy txns (queue posts near `--max-txn-ops`, large
 * values) still run side by side. A batch holds at most `maxWeight` of ops
 * and `maxBytes` of payload, so merged calls that each fit etcd's limits
 * never make a request etcd refuses as too large.
 *
 * Order: a call whose keys overlap an earlier queued or in-flight call waits
 * until that one is answered, so two writes of one key are applied in the
 * order they were made and no batch writes a key twice (etcd refuses that).
 * A call with no key list (`keys: null`, e.g. a deleteRange) runs alone: after
 * everything before it, before everything after it.
 *
 * Linger (`lingerMs`): when the last batch was not alone (under load), a
 * batch of calls marked `linger` (heartbeats) that could leave now waits
 * `lingerMs` for more to join, or until it is full. A call without the mark
 * ends the wait at once and leaves with the waiting ones; a lone heartbeat on
 * an idle store leaves at once. A fixed wait beat leaving at the first
 * event-loop turn that brought no new call: under `heartbeats --store etcd`
 * it made batches of ~22 heartbeats against ~15 (~13 with no linger), for
 * less CPU a heartbeat on the registry and on etcd (bench/README.md). Lingering only delays launches; the
 * order rules above are unchanged.
 */
export interface BatchItem {
  /** Keys the call touches; null: it may touch anything, so it runs alone. */
  readonly keys: readonly string[] | null;
  /** Its share of etcd's `--max-txn-ops` in a merged txn. */
  readonly weight: number;
  /** Payload bytes it adds to a merged request (keys and values), against `maxBytes`; 0 when not given. */
  readonly bytes?: number;
  /** It may wait up to `lingerMs` for more calls to join its batch (see Linger above); others never wait. */
  readonly linger?: boolean;
  reject(err: unknown): void;
}

export interface GroupCommitOptions<I extends BatchItem> {
  /** Most batches out at once (the second and later only with half a batch's weight queued). */
  maxInFlight: number;
  /** Most total weight in one batch (a single call heavier than this still goes, alone). */
  maxWeight: number;
  /** Most payload bytes in one batch (etcd's `--max-request-bytes`); a single call larger still goes, alone. Default: no cap. */
  maxBytes?: number;
  /** Most milliseconds `linger` calls wait for company before their batch leaves; 0 (the default): never. */
  lingerMs?: number;
  /** Sends one batch and settles every item of it; never rejects. */
  send(items: I[]): Promise<void>;
}

export class GroupCommit<I extends BatchItem> {
  private queue: I[] = [];
  private inFlight = 0;
  /** Keys of the batches out, with how many of them hold each. */
  private readonly busy = new Map<string, number>();
  /** A `keys: null` call is out: nothing else goes until it is answered. */
  private exclusive = false;
  private scheduled = false;
  private closed: unknown = undefined;
  /** Calls in the last batch launched: 2 or more means load, when lingering pays. */
  private lastBatch = 0;
  /** While lingering: the timer that ends the wait; then `lingered` until the batch leaves. */
  private lingerTimer: NodeJS.Timeout | undefined;
  private lingered = false;

  constructor(private readonly opts: GroupCommitOptions<I>) {}

  add(item: I): void {
    if (this.closed !== undefined) {
      item.reject(this.closed);
      return;
    }
    this.queue.push(item);
    if (this.scheduled || this.inFlight >= this.opts.maxInFlight) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** Fails every queued call with `err` and refuses new ones; batches out still settle. */
  close(err: unknown = new TetherError('store.closed', 'the store is closed')): void {
    this.closed = err;
    this.stopLinger();
    const queued = this.queue;
    this.queue = [];
    for (const item of queued) item.reject(err);
  }

  private pump(): void {
    while (this.queue.length > 0 && this.mayLaunch()) {
      if (this.lingering()) return;
      const batch = this.take();
      if (batch.length === 0) return;
      this.launch(batch);
    }
  }

  /**
   * One batch out at a time gives the biggest batches (the least CPU per call,
   * on etcd and here); another joins it only when a heavy one is waiting.
   */
  private mayLaunch(): boolean {
    if (this.inFlight === 0) return true;
    if (this.inFlight >= this.opts.maxInFlight) return false;
    const maxBytes = this.opts.maxBytes ?? Infinity;
    let weight = 0;
    let bytes = 0;
    for (const item of this.queue) {
      if ((weight += item.weight) * 2 >= this.opts.maxWeight || (bytes += item.bytes ?? 0) * 2 >= maxBytes) return true;
    }
    return false;
  }

  /**
   * True while the queue waits for more `linger` calls. Only with nothing
   * out: calls wait for a batch out anyway, and a second batch goes only
   * when half a batch is waiting.
   */
  private lingering(): boolean {
    const ms = this.opts.lingerMs ?? 0;
    if (ms <= 0 || this.inFlight > 0 || this.lastBatch < 2) return this.stopLinger();
    let weight = 0;
    let bytes = 0;
    for (const item of this.queue) {
      if (item.linger !== true) return this.stopLinger();
      weight += item.weight;
      bytes += item.bytes ?? 0;
    }
    if (weight >= this.opts.maxWeight || bytes >= (this.opts.maxBytes ?? Infinity)) return this.stopLinger();
    if (this.lingerTimer !== undefined) return true;
    if (this.lingered) return this.stopLinger();
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = undefined;
      this.lingered = true;
      this.pump();
    }, ms);
    return true;
  }

  private stopLinger(): false {
    if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.lingered = false;
    return false;
  }

  /** The next batch: queued calls in order, skipping (and keeping behind) any that must wait. */
  private take(): I[] {
    if (this.exclusive) return [];
    const batch: I[] = [];
    const rest: I[] = [];
    // Keys of calls taken or kept back: a later call touching one must not overtake it.
    const held = new Set<string>();
    const maxBytes = this.opts.maxBytes ?? Infinity;
    let weight = 0;
    let bytes = 0;
    for (let i = 0; i < this.queue.length; i++) {
      const item = this.queue[i]!;
      if (item.keys === null) {
        if (batch.length === 0 && rest.length === 0 && this.inFlight === 0) batch.push(item);
        else rest.push(item);
        rest.push(...this.queue.slice(i + 1));
        break;
      }
      const free = item.keys.every((k) => !held.has(k) && !this.busy.has(k));
      const fits = batch.length === 0 || (weight + item.weight <= this.opts.maxWeight && bytes + (item.bytes ?? 0) <= maxBytes);
      if (free && fits) {
        batch.push(item);
        weight += item.weight;
        bytes += item.bytes ?? 0;
      } else rest.push(item);
      for (const k of item.keys) held.add(k);
      if (weight >= this.opts.maxWeight || bytes >= maxBytes) {
        rest.push(...this.queue.slice(i + 1));
        break;
      }
    }
    this.queue = rest;
    return batch;
  }

  private launch(batch: I[]): void {
    this.inFlight++;
    this.lastBatch = batch.length;
    const alone = batch.length === 1 && batch[0]!.keys === null;
    if (alone) this.exclusive = true;
    for (const item of batch) for (const k of item.keys ?? []) this.busy.set(k, (this.busy.get(k) ?? 0) + 1);
    void this.opts
      .send(batch)
      .catch((err: unknown) => {
        // send() settles its items itself; this only guards against a bug there leaving callers hanging.
        for (const item of batch) item.reject(err);
      })
      .finally(() => {
        this.inFlight--;
        if (alone) this.exclusive = false;
        for (const item of batch) {
          for (const k of item.keys ?? []) {
            const n = this.busy.get(k)! - 1;
            if (n === 0) this.busy.delete(k);
            else this.busy.set(k, n);
          }
        }
        this.pump();
      });
  }
}
