import type { PendingTxn } from './sqlite-batch.js';

/**
 * The group commit's queue: txns wait here until the next turn of the event
 * loop (setImmediate, after the poll phase has run every handler that I/O
 * woke), then `runBatch` gets all of them at once. Txns queued while a batch
 * runs (by watchers) form the next batch of the same flush.
 *
 * Callers hear of a commit after its watchers: `later` holds the settling of
 * a flushed txn for a second immediate, queued with the first, so that the
 * microtasks the commit caused run in between. A long-poll woken by the
 * commit reads its page and writes its reply there, before the writer's own
 * reply is built (the follower's reply is what a change waits on; the
 * writer's is not), and in the same check phase: no extra loop turn. A
 * large fan-out does not hold the writer for all of its replies: the events
 * feed wakes its first WAKE_FIRST polls in the flush's microtasks and the
 * rest in a later immediate (event-waits.ts), so the writer's reply leaves
 * after that many replies at most.
 */
export class CommitQueue {
  private pending: PendingTxn[] = [];
  private scheduled = false;
  private running = false;
  /** Settlements of the flush that runs in the first immediate, for the second. */
  private settling: Array<() => void> = [];
  /** True from the first immediate until the second: `later` defers. */
  private deferring = false;
  private readonly onFlush = (): void => {
    this.scheduled = false;
    this.deferring = true;
    this.flush();
  };
  private readonly onSettle = (): void => {
    this.deferring = false;
    const due = this.settling;
    this.settling = [];
    for (const fn of due) fn();
  };

  /**
   * @param prepare called with the txns about to run, before they do (the
   *   store expires overdue leases there; what it queues meanwhile runs first)
   * @param runBatch runs a batch, settling every txn in it
   */
  constructor(
    private readonly prepare: (batch: readonly PendingTxn[]) => void,
    private readonly runBatch: (batch: PendingTxn[]) => void,
  ) {}

  /** True when nothing is queued or running: a txn may skip the queue without passing anyone. */
  get idle(): boolean {
    return this.pending.length === 0 && !this.running;
  }

  /** Queues `txn` for the next flush (scheduled on first use). */
  add(txn: PendingTxn): void {
    this.pending.push(txn);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.onFlush);
    setImmediate(this.onSettle);
  }

  /**
   * Runs `fn` (a txn's settling) after the watchers of its commit: in the
   * immediate that follows the flush's, or now when the flush did not come
   * from `add` (close, a lease expiry), which has no second immediate.
   */
  later(fn: () => void): void {
    if (this.deferring) this.settling.push(fn);
    else fn();
  }

  /** Runs every queued txn now, batch after batch. A no-op when called from inside a batch (the loop picks new ones up). */
  flush(): void {
    if (this.running) return;
    this.running = true;
    try {
      while (this.pending.length > 0) this.runBatch(this.take());
    } finally {
      this.running = false;
    }
  }

  private take(): PendingTxn[] {
    const batch = this.pending;
    this.pending = [];
    this.prepare(batch);
    if (this.pending.length === 0) return batch;
    const first = this.pending;
    this.pending = [];
    return [...first, ...batch];
  }
}
