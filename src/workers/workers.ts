import type { WorkerSpec } from '../manifest/model.js';
import { Worker, type WorkerDeps, type WorkerStatus } from './worker.js';

/** The workers share what each worker needs. */
export type WorkersOptions = WorkerDeps;

/**
 * The agent's workers, applied as a diff on reload: an unchanged worker keeps
 * running (and its counts); a removed or changed one stops (its running
 * actions are aborted and their messages released) before its successor starts.
 */
export class Workers {
  private readonly running = new Map<string, { key: string; worker: Worker }>();

  constructor(private readonly opts: WorkersOptions) {}

  async apply(specs: WorkerSpec[]): Promise<{ started: string[]; stopped: string[]; kept: string[] }> {
    const next = new Map(specs.map((s) => [s.name, s]));
    const diff = { started: [] as string[], stopped: [] as string[], kept: [] as string[] };
    const stopping: Array<Promise<void>> = [];
    for (const [name, r] of this.running) {
      const spec = next.get(name);
      if (spec && keyOf(spec) === r.key) continue;
      this.running.delete(name);
      diff.stopped.push(name);
      stopping.push(r.worker.stop());
    }
    await Promise.all(stopping);
    for (const spec of specs) {
      if (this.running.has(spec.name)) {
        diff.kept.push(spec.name);
        continue;
      }
      this.running.set(spec.name, { key: keyOf(spec), worker: new Worker(spec, this.opts) });
      diff.started.push(spec.name);
    }
    return diff;
  }

  status(): WorkerStatus[] {
    return [...this.running.values()].map((r) => r.worker.status());
  }

  async close(): Promise<void> {
    await this.apply([]);
  }
}

/** Where it was declared does not make a worker different. */
function keyOf(spec: WorkerSpec): string {
  return JSON.stringify({ ...spec, origin: null });
}
