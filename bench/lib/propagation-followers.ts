import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { TetherError } from '../../src/lib/errors.js';
import type { Cleanup } from './cleanup.js';
import { ARMED, COUNTERS, ERRORS, WOKEN, type FollowerJob, type FollowerReport } from './propagation-follower-worker.js';

/**
 * N simulated agents' registry load (see propagation-follower-worker.ts),
 * spread over a few worker threads of this process: 500 real agent
 * processes (~45 MB and a Node event loop each) would not fit on 2 cores
 * beside the registry, and what the registry sees of an agent's file
 * following is exactly its long-poll.
 */

/**
 * Workers do not inherit `--import tsx` on Node 20, so each one registers
 * tsx's loader itself before it imports its module (as bench/lib/load.ts does).
 */
const workerBoot = (module: URL): string => `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(module.href)}); })`;

/** The simulated agents' long-polls (propagation-follower-worker.ts). */
export const TETHER_FOLLOWER = new URL('./propagation-follower-worker.ts', import.meta.url);

const WAIT_POLL_MS = 1;

export interface FollowersSpec<J extends object> {
  /** Followers in all, spread over `workers` threads. */
  count: number;
  workers: number;
  /** The worker thread's module (default TETHER_FOLLOWER); it gets `{ ...job, followers, counters }` as workerData. */
  module?: URL;
  /** What every follower follows, e.g. `{ origin, tenant, marker }` for TETHER_FOLLOWER. */
  job: J;
}

export interface FollowersResult {
  /** configuration value -> epoch ms of each follower's wake carrying it. */
  wakes: Map<string, number[]>;
  errors: number;
  firstError: string | null;
}

export class Followers<J extends object = Omit<FollowerJob, 'followers' | 'counters'>> {
  private readonly counters: Int32Array;
  private readonly workers: Worker[] = [];
  private readonly reports: Promise<FollowerReport>[] = [];
  private readonly forget: () => Promise<void>;
  private failure: unknown = null;

  /** Starts the workers; their followers begin polling at once (see `waitCounter`). */
  constructor(
    cleanup: Cleanup,
    readonly spec: FollowersSpec<J>,
  ) {
    const shared = new SharedArrayBuffer(COUNTERS * Int32Array.BYTES_PER_ELEMENT);
    this.counters = new Int32Array(shared);
    this.forget = cleanup.add({
      name: 'follower workers',
      close: async () => void (await Promise.all(this.workers.map((w) => w.terminate()))),
      kill: () => this.workers.forEach((w) => void w.terminate()),
    });
    const n = Math.max(1, Math.min(spec.workers, spec.count));
    for (let w = 0; w < n; w++) {
      const followers = Math.floor(spec.count / n) + (w < spec.count % n ? 1 : 0);
      const worker = new Worker(workerBoot(spec.module ?? TETHER_FOLLOWER), { eval: true, workerData: { ...spec.job, followers, counters: shared } });
      this.workers.push(worker);
      this.reports.push(
        new Promise<FollowerReport>((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', (err) => reject((this.failure = err)));
          worker.once('exit', (code) => reject((this.failure ??= new TetherError('bench.worker', `follower worker exited (code ${code})`))));
        }),
      );
    }
    for (const r of this.reports) r.catch(() => {});
  }

  get armed(): number {
    return Atomics.load(this.counters, ARMED);
  }

  get woken(): number {
    return Atomics.load(this.counters, WOKEN);
  }

  get errors(): number {
    return Atomics.load(this.counters, ERRORS);
  }

  /**
   * Resolves once counter `which` reaches `n` (checked every millisecond).
   * Rejects (TetherError `bench.timeout`) after `timeoutMs`, or with a
   * worker's failure.
   */
  async waitFor(which: 'armed' | 'woken', n: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this[which] < n) {
      if (this.failure !== null) throw this.failure;
      if (performance.now() > deadline) {
        throw new TetherError('bench.timeout', `followers: ${this[which]} ${which} after ${timeoutMs} ms, want ${n} (${this.errors} failed polls)`);
      }
      await sleep(WAIT_POLL_MS, undefined, { signal });
    }
  }

  /** Stops every follower and collects their wake times. */
  async stop(): Promise<FollowersResult> {
    for (const w of this.workers) w.postMessage('stop');
    const reports = await Promise.all(this.reports);
    await this.forget();
    const wakes = new Map<string, number[]>();
    for (const r of reports) for (const [v, times] of r.wakes) wakes.set(v, [...(wakes.get(v) ?? []), ...times]);
    return { wakes, errors: this.errors, firstError: reports.find((r) => r.firstError !== null)?.firstError ?? null };
  }
}
