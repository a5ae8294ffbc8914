import type { HookSpec } from '../manifest/model.js';
import type { RegistryEvent } from '../registry/types.js';
import type { ActionResult } from './actions.js';

/**
 * Hooks: the events feed as an automation platform. Every matching event
 * runs the hook's action once, with the event as JSON (stdin for exec, the
 * body for http), in feed order per hook. Unlike file reloads, hook runs are
 * never coalesced: each event matters.
 */

/**
 * True when `event`'s type is in `hook.on` and it passes every filter that is
 * set: serviceTag (payload.tags includes it) and serviceIdPrefix (payload.id
 * starts with it) only pass service.* events; keyPrefix
 * (payload.configuration_value_id starts with it) only passes
 * configuration_value.* events.
 */
export function matchHook(hook: HookSpec, event: RegistryEvent): boolean {
  if (!hook.on.includes(event.type)) return false;
  const { serviceTag, serviceIdPrefix, keyPrefix } = hook.filter;
  const service = isServiceEvent(event) ? event.payload : null;
  const key = isServiceEvent(event) ? null : event.payload.configuration_value_id;
  if (serviceTag !== null && !(service?.tags.includes(serviceTag) ?? false)) return false;
  if (serviceIdPrefix !== null && !(service?.id.startsWith(serviceIdPrefix) ?? false)) return false;
  if (keyPrefix !== null && !(key?.startsWith(keyPrefix) ?? false)) return false;
  return true;
}

function isServiceEvent(e: RegistryEvent): e is Extract<RegistryEvent, { type: `service.${string}` }> {
  return e.type.startsWith('service.');
}

/** What runs a hook's action: ActionRunner fits (its `run` is serialized with the action's other runs, with retries). */
export interface HookRunner {
  /** One run (with its retries); the last result, or null when it never ran. Never rejects. */
  run(input: string, signal?: AbortSignal): Promise<ActionResult | null>;
}

export interface HookDispatcherOptions {
  hooks: readonly HookSpec[];
  /**
   * The runner of each hook, called once per hook at construction. Named
   * actions may share one runner with files; the dispatcher never closes runners.
   */
  runnerFor: (hook: HookSpec, index: number) => HookRunner;
  /** Events waiting per hook before the oldest is dropped (default 1000). */
  queueLimit?: number | undefined;
  /** After each event's run (null: it never ran, e.g. on close); for logs and metrics. Must not throw. */
  onResult?: ((hook: HookSpec, event: RegistryEvent, result: ActionResult | null) => void) | undefined;
  /** An event dropped because the hook's queue was full. Must not throw. */
  onDrop?: ((hook: HookSpec, event: RegistryEvent) => void) | undefined;
}

export interface HookStats {
  origin: string;
  queued: number;
  /** Events dropped (oldest first) because the queue was full. */
  dropped: number;
  ran: number;
}

/** One hook's queue and worker. */
interface Lane {
  hook: HookSpec;
  runner: HookRunner;
  queue: RegistryEvent[];
  /** Set while the worker drains the queue. */
  worker: Promise<void> | null;
  dropped: number;
  ran: number;
}

/** Runs hooks for delivered event batches: per hook one run at a time, in order, with a bounded queue. */
export class HookDispatcher {
  private readonly lanes: Lane[];
  private readonly limit: number;
  private readonly stop = new AbortController();

  constructor(private readonly opts: HookDispatcherOptions) {
    this.limit = Math.max(1, opts.queueLimit ?? 1000);
    this.lanes = opts.hooks.map((hook, i) => ({ hook, runner: opts.runnerFor(hook, i), queue: [], worker: null, dropped: 0, ran: 0 }));
  }

  /**
   * Queues every (hook, event) match, in batch order, and returns at once;
   * the runs happen in the background. Ignored after close().
   */
  deliver(events: readonly RegistryEvent[]): void {
    if (this.stop.signal.aborted) return;
    for (const lane of this.lanes) {
      for (const event of events) if (matchHook(lane.hook, event)) this.push(lane, event);
      this.startWorker(lane);
    }
  }

  /** Per hook: queued, dropped and run counts. */
  stats(): HookStats[] {
    return this.lanes.map((l) => ({ origin: l.hook.origin, queued: l.queue.length, dropped: l.dropped, ran: l.ran }));
  }

  /** Resolves once every queue is empty and no run is in flight (tests, `render --once`). */
  async idle(): Promise<void> {
    for (let busy = this.workers(); busy.length > 0; busy = this.workers()) await Promise.all(busy);
  }

  /** Drops what is queued, cancels retries, and waits for the runs in flight. Idempotent. */
  async close(): Promise<void> {
    this.stop.abort();
    for (const lane of this.lanes) lane.queue.length = 0;
    await this.idle();
  }

  private push(lane: Lane, event: RegistryEvent): void {
    if (lane.queue.length >= this.limit) {
      const dropped = lane.queue.shift() as RegistryEvent;
      lane.dropped += 1;
      this.opts.onDrop?.(lane.hook, dropped);
    }
    lane.queue.push(event);
  }

  private startWorker(lane: Lane): void {
    if (lane.worker !== null || lane.queue.length === 0) return;
    lane.worker = this.drain(lane).finally(() => {
      lane.worker = null;
      this.startWorker(lane); // events queued after drain's last look
    });
  }

  private async drain(lane: Lane): Promise<void> {
    for (let event = lane.queue.shift(); event !== undefined; event = lane.queue.shift()) {
      const result = await lane.runner.run(JSON.stringify(event), this.stop.signal);
      if (result !== null) lane.ran += 1;
      this.opts.onResult?.(lane.hook, event, result);
    }
  }

  private workers(): Array<Promise<void>> {
    return this.lanes.flatMap((l) => (l.worker !== null ? [l.worker] : []));
  }
}
