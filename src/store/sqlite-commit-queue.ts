import type { PendingTxn } from './sqlite-batch.js';

/**
 * The group commit's queue: txns wait here until the next turn of the event
 * loop (setImmediate, after the poll phase has run every handler that I/O
 * woke), then `runBatch` gets all of them at once. Txns queued while a batch
 * runs (by watchers) form the next batch of the same flush.
 */
export class CommitQueue {
  private pending: PendingTxn[] = [];
  private scheduled = false;
  private running = false;

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
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
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
