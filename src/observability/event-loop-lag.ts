import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

/** The standard names (prom-client's defaults), so stock dashboards and alerts keep working. */
const STATS = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const;

/**
 * Replaces prom-client's `nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds`
 * with the real lag. Node's histogram records the time between two of its
 * timer's wakeups, resolution INCLUDED: sampled every second, an idle agent
 * read ~1 s. The lag is that minus the resolution. Values cover the time
 * since the previous scrape (0 when no sample fell in it).
 */
export function registerEventLoopLag(registry: Registry, resolutionMs: number): void {
  for (const s of STATS) registry.removeSingleMetric(`nodejs_eventloop_lag_${s}_seconds`);
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  const lag = (ns: number) => Math.max(0, ns / 1e6 - resolutionMs) / 1000;
  const read: Record<(typeof STATS)[number], () => number> = {
    min: () => lag(histogram.min),
    max: () => lag(histogram.max),
    mean: () => lag(histogram.mean),
    stddev: () => histogram.stddev / 1e9,
    p50: () => lag(histogram.percentile(50)),
    p90: () => lag(histogram.percentile(90)),
    p99: () => lag(histogram.percentile(99)),
  };
  STATS.forEach((s, i) => {
    new Gauge({
      name: `nodejs_eventloop_lag_${s}_seconds`,
      help: `The ${s} of the event loop lag in seconds (sampled every ${resolutionMs} ms, the sampling period taken out).`,
      registers: [registry],
      collect() {
        this.set(histogram.count === 0 ? 0 : read[s]());
        // The registry collects in registration order: the last one starts the next window.
        if (i === STATS.length - 1) histogram.reset();
      },
    });
  });
}
