import { systemClock, type Clock } from '../lib/clock.js';
import { TetherError } from '../lib/errors.js';
import type { ProbeSpec } from '../manifest/model.js';
import { OUTPUT_LIMIT_BYTES, truncateOutput } from './attempt.js';
import type { Probe, ProbeResult } from './probe.js';

type TtlSpec = Extract<ProbeSpec, { kind: 'ttl' }>;

export type TtlStatus = 'pass' | 'fail';

/** The last report of one service. */
export interface TtlReport {
  status: TtlStatus;
  /** The note sent with the report, or null. */
  note: string | null;
  /** When it was reported, ms since the epoch (from the board's clock). */
  at: number;
}

export type TtlListener = (serviceId: string, report: TtlReport) => void;

export interface TtlBoardOptions {
  clock?: Clock | undefined;
  /** Receives what a throwing `onReport` listener threw (the report itself stands). */
  onError?: ((err: unknown) => void) | undefined;
}

/**
 * Where TTL check reports land (the local API's POST
 * /v1/checks/{service}/pass|fail): the last report per service. The ttl probe
 * reads it; `onReport` lets the agent run that probe at once, so a pass is
 * reflected without waiting for the next interval.
 */
export class TtlBoard {
  private readonly reports = new Map<string, TtlReport>();
  private readonly listeners = new Set<TtlListener>();
  readonly clock: Clock;
  private readonly onError: ((err: unknown) => void) | undefined;

  constructor(opts: TtlBoardOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.onError = opts.onError;
  }

  /**
   * Records a report (replacing the previous one) and tells the listeners.
   * Returns the stored report. Throws TetherError `probe.invalid` for a status
   * other than pass/fail. The note is capped at 4 KiB.
   */
  report(serviceId: string, status: TtlStatus, note?: string, now: number = this.clock.now()): TtlReport {
    if (status !== 'pass' && status !== 'fail') {
      throw new TetherError('probe.invalid', `TTL status must be "pass" or "fail", got ${JSON.stringify(status)}`);
    }
    const report: TtlReport = { status, note: note ? truncateOutput(note, OUTPUT_LIMIT_BYTES) : null, at: now };
    this.reports.set(serviceId, report);
    for (const listener of this.listeners) {
      try {
        listener(serviceId, report);
      } catch (err) {
        this.onError?.(err);
      }
    }
    return report;
  }

  /** The last report for `serviceId`, or undefined before the first one. */
  get(serviceId: string): TtlReport | undefined {
    return this.reports.get(serviceId);
  }

  /** Forgets a service's report (it was removed from the manifest). Returns whether there was one. */
  delete(serviceId: string): boolean {
    return this.reports.delete(serviceId);
  }

  /** Calls `listener` after every report; returns the function that unsubscribes it. */
  onReport(listener: TtlListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
}

/**
 * A ttl probe: healthy while the service's last report is a pass younger than
 * `ttlMs`. It fails at once (no `fall` intervals on top of the ttl) and
 * tells the loop when the last pass expires, so a silent service is unhealthy
 * `ttl` after its last pass. Otherwise ok:false with "no report yet", "TTL expired (no report
 * for Xs)" (expiry wins over a stale fail note) or the fail note.
 */
export function createTtlProbe(spec: TtlSpec, board: TtlBoard, serviceId: string): Probe {
  return {
    run: (signal) => {
      // No I/O and no waiting, hence no timeout; only the caller's abort applies.
      if (signal.aborted) return Promise.reject(signal.reason);
      return Promise.resolve(judge(board.get(serviceId), spec.ttlMs, board.clock.now()));
    },
    nextChangeInMs: () => {
      const report = board.get(serviceId);
      if (report === undefined || report.status !== 'pass') return undefined;
      const left = report.at + spec.ttlMs - board.clock.now();
      return left > 0 ? left : undefined;
    },
    failsAtOnce: true,
  };
}

function judge(report: TtlReport | undefined, ttlMs: number, now: number): ProbeResult {
  if (report === undefined) return { ok: false, output: 'no report yet', durationMs: 0 };
  const age = now - report.at;
  if (age >= ttlMs) return { ok: false, output: `TTL expired (no report for ${formatSeconds(age)})`, durationMs: 0 };
  if (report.status === 'fail') return { ok: false, output: report.note ?? 'reported failing', durationMs: 0 };
  return { ok: true, output: report.note ?? 'reported passing', durationMs: 0 };
}

/** "12s", "1.5s": seconds with at most one decimal. */
function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}
