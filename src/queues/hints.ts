/**
 * Where a claim should start looking for free messages, per queue, so a
 * claim does not re-read the messages already under live claims at the head
 * of a busy queue (O(in flight) per claim otherwise).
 *
 * `low` is a marker below which every message was, when last scanned, either
 * claimed, expired, deleted or being claimed by this process. It is only a
 * hint: the store's compares decide. It is lowered when a message below it
 * may have become free: a release or another change seen on the store's
 * change feed (`lower`), or the earliest claim expiry skipped below it
 * (`skippedExpiry`) passing. Scans that raced with a lowering do not raise it.
 */
interface QueueHint {
  low: number;
  skippedExpiry: number;
  version: number;
}

export interface ScanStart {
  /** First marker to read. */
  from: number;
  /** Claim expiry of messages skipped below `from` (Infinity if none). */
  skippedExpiry: number;
  version: number;
}

export class Hints {
  private readonly byQueue = new Map<string, QueueHint>();

  /** Where a scan of `queueId` starts at time `now`. */
  start(queueId: string, now: number): ScanStart {
    const h = this.byQueue.get(queueId);
    if (h === undefined) return { from: 1, skippedExpiry: Infinity, version: 0 };
    if (now >= h.skippedExpiry) {
      h.low = 1;
      h.skippedExpiry = Infinity;
      h.version++;
    }
    return { from: h.low, skippedExpiry: h.skippedExpiry, version: h.version };
  }

  /** Records a scan's result, unless a lowering happened since `start.version`. */
  settle(queueId: string, start: ScanStart, low: number, skippedExpiry: number): void {
    let h = this.byQueue.get(queueId);
    if (h === undefined) {
      if (start.version !== 0) return;
      h = { low: 1, skippedExpiry: Infinity, version: 0 };
      this.byQueue.set(queueId, h);
    }
    if (h.version !== start.version) return;
    h.low = Math.max(h.low, low);
    h.skippedExpiry = Math.min(start.skippedExpiry, skippedExpiry);
  }

  /** The current low-water mark (1 when unknown). */
  low(queueId: string): number {
    return this.byQueue.get(queueId)?.low ?? 1;
  }

  /** The earliest claim expiry skipped below the mark (Infinity when none): when claim waiters should look again. */
  nextExpiry(queueId: string): number {
    return this.byQueue.get(queueId)?.skippedExpiry ?? Infinity;
  }

  /** A message at `marker` may be free now. */
  lower(queueId: string, marker: number): void {
    const h = this.byQueue.get(queueId);
    if (h === undefined || marker >= h.low) return;
    h.low = marker;
    h.version++;
  }

  forget(queueId: string): void {
    this.byQueue.delete(queueId);
  }

  /** The change feed lost track: every hint may be wrong. */
  clear(): void {
    for (const h of this.byQueue.values()) {
      h.low = 1;
      h.skippedExpiry = Infinity;
      h.version++;
    }
  }
}
