import { performance } from 'node:perf_hooks';
import type { ProbeResult } from './probe.js';

/**
 * The framing every I/O probe shares, written once: the timeout, the
 * caller's abort, the output cap and the rule that a failure is a result.
 * A probe kind only supplies an `Attempt`: one check against its target.
 */

/** Output is capped at 4 KiB (UTF-8 bytes), like Consul's check output. */
export const OUTPUT_LIMIT_BYTES = 4096;

/** What one check found; `runAttempt` adds the duration and the cap. */
export interface Verdict {
  ok: boolean;
  output: string;
}

/**
 * One check against a target. Resolves with a verdict; may reject for any
 * failure (it becomes an ok:false result). Must settle promptly once `signal`
 * aborts, after releasing what it holds (sockets, child processes).
 */
export type Attempt = (signal: AbortSignal) => Promise<Verdict>;

/**
 * Runs `attempt` under `timeoutMs`. Returns ok:false "timed out after Nms"
 * when the timeout fires first, ok:false with the error text when the attempt
 * rejects, and the verdict otherwise. Rejects only with `caller.reason`, when
 * the caller aborts (also when the attempt finished in the meantime: after an
 * abort nobody wants the answer).
 */
export function runAttempt(caller: AbortSignal, timeoutMs: number, attempt: Attempt): Promise<ProbeResult> {
  return runCancellable(caller, timeoutMs, (report) => {
    const ac = new AbortController();
    attempt(ac.signal).then(report.done, report.fail);
    return (reason) => ac.abort(reason);
  });
}

/** How a started attempt reports back: one call of `done` or `fail` (later calls are ignored). */
export interface Report {
  done(verdict: Verdict): void;
  fail(err: unknown): void;
}

/**
 * Starts one check against a target, reporting through `report`; returns the
 * function that cancels it. After a cancel it must still report (anything),
 * promptly, once it has released what it holds (sockets, child processes).
 */
export type StartAttempt = (report: Report) => (reason: unknown) => void;

/**
 * `runAttempt` for attempts written with callbacks: the same timeout, abort
 * and output rules, without an AbortSignal per run (creating one, linking it
 * to the caller's and listening on it costs memory and time that add up over
 * hundreds of services probed every few seconds). Per run: one timer and one
 * listener on the caller's signal, both gone when it settles.
 */
export function runCancellable(caller: AbortSignal, timeoutMs: number, start: StartAttempt): Promise<ProbeResult> {
  if (caller.aborted) return Promise.reject(caller.reason);
  return new Promise<ProbeResult>((resolve, reject) => {
    const started = performance.now();
    let settled = false;
    let timedOut = false;
    let cancel: ((reason: unknown) => void) | undefined;
    const settle = (verdict: Verdict | null, err: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      caller.removeEventListener('abort', onAbort);
      if (caller.aborted) return reject(caller.reason);
      const v = verdict ?? { ok: false, output: timedOut ? `timed out after ${timeoutMs}ms` : describeError(err) };
      resolve({ ok: v.ok, output: truncateOutput(v.output), durationMs: elapsedMs(started) });
    };
    const report: Report = { done: (v) => settle(v, undefined), fail: (err) => settle(null, err) };
    const onAbort = (): void => cancel?.(caller.reason);
    const timer = setTimeout(() => {
      timedOut = true;
      cancel?.(new DOMException(`timed out after ${timeoutMs}ms`, 'TimeoutError'));
    }, timeoutMs);
    caller.addEventListener('abort', onAbort);
    try {
      cancel = start(report);
    } catch (err) {
      report.fail(err);
    }
  });
}

/** Milliseconds since `started` (a `performance.now()` reading), to the microsecond. */
export function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}

/**
 * Cuts `text` to `limit` UTF-8 bytes, keeping its head (or its tail, for
 * command output whose last lines matter) and marking the cut with "…".
 */
export function truncateOutput(text: string, limit = OUTPUT_LIMIT_BYTES, keep: 'head' | 'tail' = 'head'): string {
  if (text.length * 3 <= limit) return text; // a UTF-16 code unit is at most 3 UTF-8 bytes: no need to count
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= limit) return text;
  const mark = '…';
  const room = Math.max(0, limit - Buffer.byteLength(mark));
  // A cut through a multi-byte character decodes to U+FFFD; drop that half character.
  if (keep === 'head') return bytes.subarray(0, room).toString('utf8').replace(/\uFFFD+$/, '') + mark;
  return mark + bytes.subarray(bytes.length - room).toString('utf8').replace(/^\uFFFD+/, '');
}

/**
 * Short human text for an error: its message, the messages of an
 * AggregateError (Node's happy-eyeballs connect to "localhost" throws one with
 * an empty message), and a cause that adds something.
 */
export function describeError(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) {
    return [...new Set(err.errors.map(describeError))].join('; ');
  }
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  let text = err.message || (typeof code === 'string' ? code : err.name);
  const cause = err.cause;
  if (cause !== undefined && cause !== null) {
    const more = describeError(cause);
    if (more !== '' && !text.includes(more)) text = `${text}: ${more}`;
  }
  return text;
}
