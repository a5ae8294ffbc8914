import { Worker } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { TetherError } from '../../src/lib/errors.js';
import type { Server } from './child.js';
import { cpuMeter, type Cpu } from './cpu.js';
import type { Cleanup } from './cleanup.js';
import { summarize, type Summary } from './stats.js';
import type { LoopJob, LoopResult, LoopWindow } from './load-worker.js';

/**
 * Closed-loop load from `workers` threads (each its own Pool), measured over
 * one shared window after a warm-up; the CPU of this process (all threads)
 * and of the server is sampled at the window's edges by the idle main thread.
 */

export interface Shape {
  workers: number;
  /** Per worker. */
  connections: number;
  /** Chains driven at once, per worker. */
  inflight: number;
}

/** `2x32` = 2 workers x 32 connections; `2x32/64` also sets 64 in flight per worker (default: = connections). */
export function parseShape(text: string): Shape {
  const m = /^(\d+)x(\d+)(?:\/(\d+))?$/.exec(text.trim());
  if (m === null) throw new TetherError('bench.usage', `bad load shape "${text}" (want WORKERSxCONNECTIONS[/INFLIGHT], e.g. 1x64 or 2x32/64)`);
  const [workers, connections] = [Number(m[1]), Number(m[2])];
  return { workers, connections, inflight: m[3] === undefined ? connections : Number(m[3]) };
}

export const shapeLabel = (s: Shape): string => `${s.workers}x${s.connections}${s.inflight === s.connections ? '' : `/${s.inflight}`}`;

/**
 * Workers do not inherit `--import tsx` on Node 20, so each one registers
 * tsx's loader itself before it imports the loop (which imports the step).
 */
const WORKER_BOOT = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./load-worker.ts', import.meta.url).href)}); })`;

export interface LoadSpec {
  server: Server;
  shape: Shape;
  stepModule: string;
  stepName: string;
  /** Chain states; split across workers. */
  states: unknown[];
  warmupMs: number;
  durationMs: number;
}

export interface LoadReport {
  perSecond: number;
  latency: Summary;
  errors: number;
  firstError: string | null;
  /** CPU used in the window, in cores (1.0 = one core busy): this process, the server, everything else on the machine. */
  cpu: Cpu;
  /** Surviving chain states, to continue with in another run. */
  states: unknown[];
}

export async function runLoad(cleanup: Cleanup, spec: LoadSpec): Promise<LoadReport> {
  const { workers: n, connections, inflight } = spec.shape;
  const workers: Worker[] = [];
  const forget = cleanup.add({
    name: 'load workers',
    close: async () => void (await Promise.all(workers.map((w) => w.terminate()))),
    kill: () => workers.forEach((w) => void w.terminate()),
  });
  try {
    const results: Promise<LoopResult>[] = [];
    const ready: Promise<void>[] = [];
    for (let w = 0; w < n; w++) {
      const job: LoopJob = { origin: spec.server.url, connections, inflight, stepModule: spec.stepModule, stepName: spec.stepName, states: spec.states.filter((_, i) => i % n === w) };
      const worker = new Worker(WORKER_BOOT, { eval: true, workerData: job });
      workers.push(worker);
      const failed = new Promise<never>((_, reject) => {
        worker.on('error', reject);
        worker.once('exit', (code) => reject(new TetherError('bench.worker', `load worker exited early (code ${code})`)));
      });
      // The worker sends 'ready' once loaded, then its LoopResult. A failure
      // before 'ready' leaves `results` unawaited: mark them handled.
      let onReady = (): void => {};
      let onResult = (_: LoopResult): void => {};
      ready.push(Promise.race([new Promise<void>((resolve) => (onReady = resolve)), failed]));
      const result = Promise.race([new Promise<LoopResult>((resolve) => (onResult = resolve)), failed]);
      result.catch(() => {});
      results.push(result);
      worker.on('message', (m: 'ready' | LoopResult) => (m === 'ready' ? onReady() : onResult(m)));
    }
    await Promise.all(ready);
    const window = windowFrom(spec);
    for (const w of workers) w.postMessage(window);
    const cpu = sampleCpu(spec.server, window);
    const done = await Promise.all(results);
    return merge(done, spec, await cpu);
  } finally {
    await forget();
  }
}

const epochNow = (): number => performance.timeOrigin + performance.now();

function windowFrom(spec: LoadSpec): LoopWindow {
  const from = epochNow() + spec.warmupMs;
  return { from, until: from + spec.durationMs };
}

/** Cores used by this process, the server and everything else between the window's edges. */
async function sampleCpu(server: Server, window: LoopWindow): Promise<Cpu> {
  await sleep(Math.max(0, window.from - epochNow()));
  const stop = cpuMeter(server);
  await sleep(Math.max(0, window.until - epochNow()));
  return stop();
}

function merge(results: LoopResult[], spec: LoadSpec, cpu: Cpu): LoadReport {
  const ops = results.reduce((a, r) => a + r.ops, 0);
  const all = new Float64Array(results.reduce((a, r) => a + r.latencies.length, 0));
  let at = 0;
  for (const r of results) {
    all.set(r.latencies, at);
    at += r.latencies.length;
  }
  return {
    perSecond: ops / (spec.durationMs / 1000),
    latency: summarize(all),
    errors: results.reduce((a, r) => a + r.errors, 0),
    firstError: results.find((r) => r.firstError !== null)?.firstError ?? null,
    cpu,
    states: results.flatMap((r) => r.states),
  };
}
