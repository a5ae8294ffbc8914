import { Counter, Gauge, type Registry as PromRegistry } from 'prom-client';

/** The `tether exec` series, on the agent's metrics registry (next to tether_* of the agent). */
export class ExecMetrics {
  readonly starts: Counter;
  readonly restarts: Counter<'reason'>;
  readonly running: Gauge;
  readonly crashLoop: Gauge;
  readonly consecutiveCrashes: Gauge;

  /**
   * `loop`: the supervisor's view, read at each scrape, so a crash loop
   * clears once the child has run long enough (it is not an event: no crash
   * marks the recovery).
   */
  constructor(registry: PromRegistry, loop: () => { crashLoop: boolean; consecutiveCrashes: number } | null = () => null) {
    const registers = [registry];
    this.starts = new Counter({ name: 'tether_exec_starts_total', help: 'Starts of the exec child.', registers });
    this.restarts = new Counter({ name: 'tether_exec_restarts_total', help: 'Restarts of the exec child, by reason (change, crash).', labelNames: ['reason'], registers });
    this.running = new Gauge({ name: 'tether_exec_running', help: '1 while the exec child runs.', registers });
    this.crashLoop = new Gauge({
      name: 'tether_exec_crash_loop',
      help: '1 while the exec child crashes again and again (two or more crashes in a row).',
      registers,
      collect() {
        const s = loop();
        if (s) this.set(s.crashLoop ? 1 : 0);
      },
    });
    this.consecutiveCrashes = new Gauge({
      name: 'tether_exec_consecutive_crashes',
      help: 'Crashes of the exec child in a row.',
      registers,
      collect() {
        const s = loop();
        if (s) this.set(s.consecutiveCrashes);
      },
    });
  }
}
