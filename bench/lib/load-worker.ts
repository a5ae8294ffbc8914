import { parentPort, workerData } from 'node:worker_threads';
import { Pool, type Dispatcher } from 'undici';

/**
 * One load-generating thread: a keep-alive undici Pool (pipelining 1) and
 * `inflight` lanes, each driving its share of the chains one step at a time
 * (a chain is sequential: its next step needs the previous reply). Runs until
 * `until`, then waits for what is in flight, closes the pool and reports.
 */

/** One step of a chain: sends a request and returns the chain's next state; throws on any failure. */
export type Step<S> = (d: Dispatcher, state: S) => Promise<S>;

export interface LoopJob {
  origin: string;
  connections: number;
  inflight: number;
  /** Module URL and export name of the Step (functions cannot cross threads). */
  stepModule: string;
  stepName: string;
  states: unknown[];
}

/** Sent by the parent once every worker is ready: the shared window, epoch ms. */
export interface LoopWindow {
  /** Warm-up ends (samples start) at `from`; new steps stop at `until`. */
  from: number;
  until: number;
}

export interface LoopResult {
  /** Steps completed inside the window. */
  ops: number;
  /** Failed steps (anywhere); a failed chain is dropped. */
  errors: number;
  firstError: string | null;
  /** Latency of each step completed inside the window, ms. */
  latencies: Float64Array;
  /** Chain states at the end, for the next run (failed chains are left out). */
  states: unknown[];
}

const epochNow = (): number => performance.timeOrigin + performance.now();

export async function runLoop<S>(job: LoopJob, step: Step<S>, window: LoopWindow): Promise<LoopResult> {
  const pool = new Pool(job.origin, { connections: job.connections, pipelining: 1 });
  const states = job.states as (S | null)[];
  const lanes = Math.max(1, Math.min(job.inflight, states.length));
  const latencies: number[] = [];
  let ops = 0;
  let errors = 0;
  let firstError: string | null = null;

  const lane = async (k: number): Promise<void> => {
    const mine: number[] = [];
    for (let i = k; i < states.length; i += lanes) mine.push(i);
    for (let j = 0; mine.length > 0 && epochNow() < window.until; j = (j + 1) % mine.length) {
      const i = mine[j] as number;
      const t0 = performance.now();
      try {
        states[i] = await step(pool, states[i] as S);
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
        states[i] = null;
        mine.splice(j--, 1);
        if (mine.length === 0) break;
        continue;
      }
      const t1 = performance.now();
      const at = performance.timeOrigin + t1;
      if (at >= window.from && at < window.until) {
        ops++;
        latencies.push(t1 - t0);
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, (_, k) => lane(k)));
  await pool.close();
  return { ops, errors, firstError, latencies: Float64Array.from(latencies), states: states.filter((s) => s !== null) };
}

// Worker entry: load the step, say ready, run the window we are given, report.
if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'stepModule' in workerData) {
  const port = parentPort;
  const job = workerData as LoopJob;
  const step = ((await import(job.stepModule)) as Record<string, unknown>)[job.stepName];
  if (typeof step !== 'function') throw new TypeError(`${job.stepModule} exports no step named ${job.stepName}`);
  port.once('message', (window: LoopWindow) => {
    // A failure is rethrown from the rejection handler: the worker dies and the parent sees its 'error'.
    runLoop(job, step as Step<unknown>, window).then(
      (result) => port.postMessage(result, [result.latencies.buffer as ArrayBuffer]),
      (err: unknown) => {
        throw err;
      },
    );
  });
  port.postMessage('ready');
}
