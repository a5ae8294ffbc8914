/**
 * The retry policy shared by the client loops (HeartBeater, EventsFollower):
 * exponential backoff with a cap, optional jitter, reset on success.
 * Written once so every loop backs off the same way (STYLE habit 6).
 */
export interface BackoffOptions {
  /** First delay, ms. */
  initialMs: number;
  /** Largest delay, ms. */
  maxMs: number;
  /** Growth per failure; default 2. */
  factor?: number;
  /**
   * Fraction of each delay that is randomised, 0..1 (0 = none; 0.5 = "equal
   * jitter": the delay lands in [d/2, d)). Spreads the retries of many clients.
   */
  jitter?: number;
  /** Uniform [0, 1); injectable for tests. */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly random: () => number;

  constructor(private readonly opts: BackoffOptions) {
    this.factor = opts.factor ?? 2;
    this.jitter = Math.min(1, Math.max(0, opts.jitter ?? 0));
    this.random = opts.random ?? Math.random;
  }

  /** The delay before the next retry, ms; each call grows the next one up to the cap. */
  next(): number {
    const raw = Math.min(this.opts.maxMs, this.opts.initialMs * this.factor ** this.attempt);
    if (raw < this.opts.maxMs) this.attempt += 1;
    return Math.round(raw * (1 - this.jitter * this.random()));
  }

  /** Back to the first delay (call after a success). */
  reset(): void {
    this.attempt = 0;
  }
}

/**
 * Resolves after `ms`, or as soon as `signal` aborts (it never rejects: the
 * caller checks `signal.aborted` after the await). The abort listener is
 * removed either way. With `unref` the timer does not keep the process alive
 * (background keep-alives); without it a waiting loop does (a follower that
 * is retrying is still work the process was asked to do).
 */
export function sleep(ms: number, signal?: AbortSignal, unref = false): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    if (unref) timer.unref();
    signal?.addEventListener('abort', done, { once: true });
  });
}
