import { setTimeout as sleep } from 'node:timers/promises';
import { cpuMeter, type Cpu } from './cpu.js';
import { summarize, type Summary } from './stats.js';

/**
 * The queues bench's load: `lanes` closed loops in this thread, each one
 * request (or one Redis round trip) in flight at a time, for a warm-up and
 * then a measured window. Tether and Redis are driven by the same loop, so
 * they see the same client concurrency and the same client-side overhead
 * (except each one's client library).
 */

/** One step of a lane: resolves with the messages (or pages) it handled; 0 means "nothing left", and the lane stops. */
export type LaneStep = (lane: number) => Promise<number>;

export interface LoopReport {
  /** Units (messages, pages) per second in the window. */
  perSecond: number;
  /** Latency of each step started in the window, ms. */
  latency: Summary;
  errors: number;
  firstError: string | null;
  cpu: Cpu;
  /** True when every lane ran dry before the window ended (the rate is over the time they ran). */
  drained: boolean;
}

export interface LoopSpec {
  server: { cpuSeconds(): number };
  lanes: number;
  step: LaneStep;
  warmupMs: number;
  durationMs: number;
  signal: AbortSignal;
}

/** Runs the lanes; steps that fail are counted and stop their lane. */
export async function closedLoop(spec: LoopSpec): Promise<LoopReport> {
  const from = performance.now() + spec.warmupMs;
  const until = from + spec.durationMs;
  const latencies: number[] = [];
  let units = 0;
  let errors = 0;
  let firstError: string | null = null;
  let lastEnd = from;
  let meter: (() => Cpu) | undefined;
  const startMeter = sleep(spec.warmupMs).then(() => void (meter = cpuMeter(spec.server)));
  const lane = async (i: number): Promise<void> => {
    while (!spec.signal.aborted) {
      const t0 = performance.now();
      if (t0 >= until) return;
      let n: number;
      try {
        n = await spec.step(i);
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
        return;
      }
      const t1 = performance.now();
      if (t0 >= from) {
        units += n;
        latencies.push(t1 - t0);
        lastEnd = Math.max(lastEnd, t1);
      }
      if (n === 0) return;
    }
  };
  await Promise.all(Array.from({ length: spec.lanes }, (_, i) => lane(i)));
  const drained = performance.now() < until;
  await startMeter;
  const cpu = (meter as () => Cpu)();
  const seconds = (Math.min(until, drained ? lastEnd : until) - from) / 1000;
  return { perSecond: seconds > 0 ? units / seconds : Number.NaN, latency: summarize(latencies), errors, firstError, cpu, drained };
}
