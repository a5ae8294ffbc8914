import { TetherError } from '../lib/errors.js';
import type { ProbeSpec } from '../manifest/model.js';
import { createExecProbe } from './exec.js';
import { createGrpcProbe } from './grpc.js';
import { createHttpProbe } from './http.js';
import { createTcpProbe } from './tcp.js';
import { createTtlProbe, type TtlBoard } from './ttl.js';

/** What one run of a probe found. */
export interface ProbeResult {
  ok: boolean;
  /**
   * Short human text, at most 4 KiB: "HTTP 200 OK", "connect ECONNREFUSED
   * 127.0.0.1:9", the tail of a command's stdout+stderr, "timed out after 2000ms".
   */
  output: string;
  durationMs: number;
}

/**
 * One health check against one target. The loop that runs it, the rise/fall
 * thresholds and the timers live elsewhere (scheduler.ts), written once.
 */
export interface Probe {
  /**
   * Checks the target once. A failing target, an error or the probe's own
   * timeout resolve with ok:false: a failure is a result, not an exception.
   * Rejects only with `signal.reason` when the caller aborts (at once when the
   * signal is already aborted), after releasing what the run held.
   */
  run(signal: AbortSignal): Promise<ProbeResult>;
  /**
   * Ms until this probe's verdict changes by itself (a ttl pass expiring), or
   * undefined. The loop runs again no later than that, so the change is seen
   * when it happens, not at the next interval.
   */
  nextChangeInMs?(): number | undefined;
  /**
   * True when one failure is the verdict: the ttl already was the grace
   * period, so `fall` does not add intervals on top of it.
   */
  readonly failsAtOnce?: boolean;
}

export interface CreateProbeOptions {
  /** The check's timeout; a run that takes longer yields ok:false "timed out after Nms". */
  timeoutMs: number;
  /** Where TTL reports arrive; required for a `ttl` probe. */
  ttl?: TtlBoard | undefined;
  /** The service the probe belongs to (the key of its TTL reports). */
  serviceId: string;
}

/**
 * The one factory: builds the probe for `spec`. Throws TetherError
 * `probe.invalid` for a spec it cannot run (a ttl probe without a board, an
 * empty argv, a bad timeout); nothing is started until `run`.
 */
export function createProbe(spec: ProbeSpec, opts: CreateProbeOptions): Probe {
  if (!(Number.isFinite(opts.timeoutMs) && opts.timeoutMs > 0)) {
    throw new TetherError('probe.invalid', `probe timeout must be a positive number of ms, got ${opts.timeoutMs}`);
  }
  switch (spec.kind) {
    case 'http':
      return createHttpProbe(spec, opts.timeoutMs);
    case 'tcp':
      return createTcpProbe(spec, opts.timeoutMs);
    case 'exec':
      return createExecProbe(spec, opts.timeoutMs);
    case 'grpc':
      return createGrpcProbe(spec, opts.timeoutMs);
    case 'ttl':
      if (opts.ttl === undefined) {
        throw new TetherError('probe.invalid', `service ${opts.serviceId}: a ttl probe needs a TtlBoard`);
      }
      return createTtlProbe(spec, opts.ttl, opts.serviceId);
  }
}
