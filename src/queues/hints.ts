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
const MAX_HINTS = 10_000;

interface QueueHint {
  low: number;
  skippedExpiry: number;
  version: number;
  /** Scans started and not yet settled: a message freed meanwhile may be behind what they will settle. */
  scanning: number;
  /** The lowest marker freed while scans were running: they settle no higher. */
  freedMin: number;
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
    let h = this.byQueue.get(queueId);
    if (h === undefined) {
      // Created now, so a release during this scan bumps its version and the scan does not settle over it.
      // Hints are only worth keeping for busy queues; past this many, start over (a lost hint costs one longer scan).
      if (this.byQueue.size >= MAX_HINTS) this.byQueue.clear();
      h = { low: 1, skippedExpiry: Infinity, version: 0, scanning: 0, freedMin: Infinity };
      this.byQueue.set(queueId, h);
    }
    if (now >= h.skippedExpiry) {
      h.low = 1;
      h.skippedExpiry = Infinity;
      h.version++;
    }
    h.scanning++;
    return { from: h.low, skippedExpiry: h.skippedExpiry, version: h.version };
  }

  /**
   * Ends a scan begun with `start`: records its result, unless a lowering
   * happened since (then the next scan starts lower). Without a result (the
   * scan failed) it only ends it. Every `start` must be ended once.
   */
  settle(queueId: string, start: ScanStart, result?: { low: number; skippedExpiry: number }): void {
    const h = this.byQueue.get(queueId);
    if (h === undefined) return;
    h.scanning = Math.max(0, h.scanning - 1);
    if (result !== undefined && h.version === start.version) {
      h.low = Math.max(h.low, Math.min(result.low, h.freedMin));
      h.skippedExpiry = Math.min(start.skippedExpiry, result.skippedExpiry);
    }
    if (h.scanning === 0) h.freedMin = Infinity;
  }

  /** True when a message at `marker` becoming free must lower the hint (it is below it, or a scan is running). */
  matters(queueId: string, marker: number): boolean {
    const h = this.byQueue.get(queueId);
    return h !== undefined && (marker < h.low || h.scanning > 0);
  }

  /** The earliest claim expiry skipped below the mark (Infinity when none): when claim waiters should look again. */
  nextExpiry(queueId: string): number {
    return this.byQueue.get(queueId)?.skippedExpiry ?? Infinity;
  }

  /** A message at `marker` may be free now. */
  lower(queueId: string, marker: number): void {
    const h = this.byQueue.get(queueId);
    if (h === undefined) return;
    if (h.scanning > 0) h.freedMin = Math.min(h.freedMin, marker);
    if (marker < h.low) {
      h.low = marker;
      h.version++;
    }
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
