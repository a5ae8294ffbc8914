import type { Logger } from 'pino';

/** The registry-failure warning repeats at most this often while the failures go on. */
export const UPSTREAM_WARN_EVERY_MS = 30_000;

/**
 * Whether the registry answers, as the agent reports it: any failed registry
 * call (a registration, a heartbeat, a resync, a file sync) shows in
 * /v1/status as `upstream.lastError` until a call succeeds again, and in a
 * warning at most every UPSTREAM_WARN_EVERY_MS: an outage is visible at the
 * default log level without a line per heartbeat.
 */
export class UpstreamStatus {
  lastError: { message: string; at: number } | null = null;
  private lastWarn = 0;

  constructor(private readonly log: Logger) {}

  failed(op: string, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    const at = Date.now();
    this.lastError = { message, at };
    if (at - this.lastWarn < UPSTREAM_WARN_EVERY_MS) return;
    this.lastWarn = at;
    this.log.warn({ op, err: message }, 'registry unreachable or failing; retrying (repeats at most every 30 s)');
  }

  /** A registry call succeeded: the outage (if any) is over. */
  ok(): void {
    if (this.lastError === null) return;
    this.lastError = null;
    this.lastWarn = 0;
    this.log.info('registry reachable again');
  }
}
