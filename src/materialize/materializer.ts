import type { Logger } from 'pino';
import { Backoff, sleep } from '../lib/backoff.js';
import { EventsFollower } from '../client/events-follower.js';
import type { ActionSpec, FileSpec, HookSpec } from '../manifest/model.js';
import type { AgentMetrics } from '../observability/metrics.js';
import type { Registry } from '../registry/registry.js';
import type { RegistryEvent } from '../registry/types.js';
import { ActionRunner } from './actions.js';
import type { QueuePoster } from '../workers/queue-action.js';
import { SourceData, sourceId } from './data.js';
import type { FloorStatus } from './floor.js';
import { FloorStore } from './floor-store.js';
import { renderFile, type FileStatus } from './file-renderer.js';
import { HookDispatcher } from './hooks.js';
import { Quiescence } from './quiescence.js';
import { MarkerFile } from './state.js';
import { Templates } from './template.js';
import { removeStaleTemps } from './write.js';

/** How long a changed file's action waits for other renders of the same change (see queueAction). */
export const ACTION_GRACE_MS = 50;

/**
 * How long the feed's next long-poll waits for the renders a page started,
 * until their new bytes are in place (renamed; the directory's fsync is not
 * waited for). Re-arming at once made the registry (and etcd behind it) answer
 * that poll on the same CPUs while the file was being written: on 2 cores the
 * write waited for a core (issue 20, ~2 ms of a 5-10 ms change). Waiting for
 * the directory's fsync too let a change made as soon as the bytes were seen
 * reach the registry before the poll. A render slower than this (a file's
 * check, a slow disk) no longer holds the feed back.
 */
export const REARM_WAIT_MAX_MS = 50;

/** Resolves when every promise settled (failures ignored: renders report their own) or after `ms`, whichever is first. */
function settledWithin(promises: ReadonlyArray<Promise<unknown>>, ms: number): Promise<void> {
  if (promises.length === 0) return Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([Promise.allSettled(promises).then(() => undefined), cap]).finally(() => clearTimeout(timer));
}

export interface MaterializerOptions {
  registry: Registry;
  tenant: string;
  files: readonly FileSpec[];
  hooks: readonly HookSpec[];
  stateDir: string;
  resyncIntervalMs: number;
  log: Logger;
  metrics: AgentMetrics;
  /** Called with the path after a file's bytes changed (or it was deleted). */
  onFileChange?: ((path: string) => void) | undefined;
  /** Where queue actions post (the agent's queues client). */
  queues?: QueuePoster | undefined;
  /**
   * Told of each failed registry call (the events feed, a full sync) and of
   * each full sync that succeeded: the agent's `upstream.lastError` follows
   * file-side calls too, so an agent with files only still shows an outage.
   */
  onUpstream?: { failed: (op: string, err: unknown) => void; ok: () => void } | undefined;
  /** REARM_WAIT_MAX_MS unless given (tests on a busy machine, where a render may take longer than it). */
  rearmWaitMaxMs?: number | undefined;
}

interface Managed {
  spec: FileSpec;
  sources: Set<string>;
  quiet: Quiescence;
  status: FileStatus;
  rendering: Promise<void>;
}

/**
 * Configuration and discovery into files: a full sync at start (and every
 * `resyncIntervalMs`, and when the feed rejects our marker), then the events
 * feed (long-poll, marker kept in state_dir) keeps the data current; each
 * change renders the files that use it (after their quiescence), writes them
 * atomically, and runs their action once per burst. Registry trouble never
 * touches a file: they stay as they are until fresh data arrives.
 */
export class Materializer {
  private readonly data: SourceData;
  private readonly files: Managed[];
  private readonly runners = new Map<ActionSpec, ActionRunner>();
  private readonly templates = new Templates();
  private readonly marker: MarkerFile;
  private readonly floorStore: FloorStore;
  /** The floor sizes last handed to floorStore (JSON), so unchanged sizes are not written again. */
  private savedFloors = '{}';
  private readonly stop = new AbortController();
  private follower: EventsFollower | null = null;
  private hooks: HookDispatcher | null = null;
  private loops: Promise<void>[] = [];
  private startedAt = Date.now();
  private hadMarker = false;
  /** True once a full sync succeeded and every file was rendered from it. */
  synced = false;
  /** Set while the registry cannot be read (the feed or a sync failed): every file's data may be out of date. */
  private stale: { since: number; reason: string } | null = null;
  private recovering = false;
  /** Actions of changed files, run once the renders in progress settle (queueAction). */
  private readonly pendingActions = new Set<ActionSpec>();
  private flushingActions = false;

  constructor(private readonly opts: MaterializerOptions) {
    this.data = new SourceData(
      opts.files.flatMap((f) => f.sources.map((s) => s.source)),
      (id, transition, st) => this.floorChanged(id, transition, st),
    );
    this.marker = new MarkerFile(opts.stateDir);
    this.floorStore = new FloorStore(opts.stateDir);
    this.files = opts.files.map((spec) => {
      const m: Managed = {
        spec,
        sources: new Set(spec.sources.map((s) => sourceId(s.source))),
        quiet: new Quiescence({ minMs: spec.waitMinMs, maxMs: spec.waitMaxMs, onFire: () => this.queueRender(m) }),
        status: { path: spec.path, origin: spec.origin, ok: null, lastRender: null, lastChange: null, lastError: null, stale: null, floor: null },
        rendering: Promise.resolve(),
      };
      if (spec.sources.some((s) => s.source.kind === 'services' && s.source.floor !== null)) opts.metrics.fileFloorHeld.set({ file: spec.path }, 0);
      return m;
    });
  }

  /** Starts the initial sync (retried with backoff until it succeeds), the feed and the periodic resync. */
  start(): void {
    this.startedAt = Date.now();
    if (this.opts.hooks.length > 0) {
      this.hooks = new HookDispatcher({
        hooks: this.opts.hooks,
        runnerFor: (h) => this.runner(h.action.action),
        onResult: (h, ev, r) => this.opts.log.info({ hook: h.origin, event: ev.type, ok: r?.ok, output: r?.output }, 'hook ran'),
        onDrop: (h) => this.opts.log.warn({ hook: h.origin }, 'hook queue full; dropped the oldest event'),
      });
    }
    this.loops.push(this.run(this.stop.signal));
  }

  private async run(signal: AbortSignal): Promise<void> {
    // Temp files of an earlier run killed mid-write: ours by name, removed before the first write.
    for (const m of this.files) {
      const removed = await removeStaleTemps(m.spec.path);
      if (removed.length > 0) this.opts.log.info({ file: m.spec.path, removed }, 'removed temp files of an earlier run');
    }
    if (this.data.hasFloors) {
      const sizes = await this.floorStore.read();
      this.data.seedFloors(sizes);
      this.savedFloors = JSON.stringify(sizes);
    }
    const saved = await this.marker.read();
    this.hadMarker = saved !== null;
    await this.syncUntilDone(signal);
    if (signal.aborted) return;
    this.follower = new EventsFollower({
      registry: this.opts.registry,
      tenant: this.opts.tenant,
      marker: saved,
      waitSec: 30,
      limit: 1000,
      onEvents: (events, m) => this.onEvents(events, m),
      onReset: () => this.syncUntilDone(signal),
      onError: (err) => {
        this.opts.metrics.upstreamErrors.inc({ op: 'events' });
        this.opts.onUpstream?.failed('events', err);
        this.markStale(err, signal);
        this.opts.log.debug({ err: String(err) }, 'events follower error; retrying');
      },
    });
    this.follower.start();
    while (!signal.aborted) {
      await sleep(this.opts.resyncIntervalMs * (0.9 + Math.random() * 0.2), signal, true);
      if (!signal.aborted) await this.syncOnce().catch((err: unknown) => this.markStale(err, signal));
    }
  }

  /** Full sync with exponential backoff until it succeeds (or stop). */
  private async syncUntilDone(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: 250, maxMs: 15_000, jitter: 0.5 });
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.syncOnce();
        return;
      } catch (err) {
        this.opts.metrics.upstreamErrors.inc({ op: 'sync' });
        this.opts.onUpstream?.failed('sync', err);
        this.stale ??= { since: Date.now(), reason: String(err) };
        // One warning per outage: the retries are at debug (the agent's upstream warning repeats every 30 s meanwhile).
        const log = failures++ === 0 ? this.opts.log.warn.bind(this.opts.log) : this.opts.log.debug.bind(this.opts.log);
        log({ err: String(err) }, 'full sync failed; files stay as they are; retrying');
        await sleep(backoff.next(), signal);
      }
    }
  }

  /** Reads everything, then renders every file (now, without quiescence). Rejects when the registry fails. */
  private async syncOnce(): Promise<void> {
    await this.data.sync(this.opts.registry, this.opts.tenant, this.stop.signal);
    await Promise.all(this.files.map((m) => this.queueRender(m)));
    this.synced = true;
    this.stale = null;
    this.opts.onUpstream?.ok();
  }

  /**
   * The data may be out of date: status says so until a full sync succeeds,
   * tried with backoff now (the feed alone may not say when the registry is back).
   */
  private markStale(err: unknown, signal: AbortSignal): void {
    this.stale ??= { since: Date.now(), reason: String(err) };
    if (this.recovering || signal.aborted) return;
    this.recovering = true;
    void this.syncUntilDone(signal).finally(() => {
      this.recovering = false;
    });
  }

  private async onEvents(events: RegistryEvent[], marker: string): Promise<void> {
    const changed = this.data.apply(events);
    try {
      // Secret keys' events come without values: read them directly; on failure a full sync reads everything.
      for (const id of await this.data.fetchSecrets(this.opts.registry, this.opts.tenant, this.stop.signal)) changed.add(id);
    } catch (err) {
      this.markStale(err, this.stop.signal);
    }
    const renders: Array<Promise<void>> = [];
    if (changed.size > 0) {
      for (const m of this.files) if ([...m.sources].some((s) => changed.has(s))) renders.push(this.changed(m));
    }
    if (this.hooks) {
      // Without a saved marker the feed starts in the past: hooks see only what happened since this start.
      const fresh = this.hadMarker ? events : events.filter((e) => e.timestamp >= this.startedAt);
      this.hooks.deliver(fresh);
    }
    this.hadMarker = true;
    // Not awaited: the marker is written a moment later, after the files (state.ts).
    this.marker.saveSoon(marker, (err) => this.markerFailed(err));
    await settledWithin(renders, this.opts.rearmWaitMaxMs ?? REARM_WAIT_MAX_MS);
  }

  private markerFailed(err: unknown): void {
    this.opts.log.warn({ err: String(err) }, 'cannot save the events marker');
  }

  /**
   * A file's data changed. Without a quiescence (`wait`) it renders now, in
   * this turn, and the returned promise (settled once the new bytes are in
   * place, or the render ended) is what the feed's next long-poll waits for
   * (REARM_WAIT_MAX_MS at most). A page's events are all applied before, so a
   * page still makes one render. With a quiescence nothing is waited for.
   */
  private changed(m: Managed): Promise<void> {
    if (m.spec.waitMaxMs === 0) {
      let visible!: () => void;
      const inPlace = new Promise<void>((resolve) => (visible = resolve));
      void this.queueRender(m, visible).finally(visible);
      return inPlace;
    }
    m.quiet.poke();
    return Promise.resolve();
  }

  /**
   * Renders one file after any render of it in progress (one at a time per
   * file). Never rejects: a render that throws (an onFileChange callback, a
   * bug) is logged, and would otherwise leave the chain rejected, so that no
   * later change of the file rendered again.
   */
  private queueRender(m: Managed, onVisible?: () => void): Promise<void> {
    m.rendering = m.rendering.then(() => this.renderNow(m, onVisible)).catch((err: unknown) => this.renderThrew(m, err));
    return m.rendering;
  }

  private renderThrew(m: Managed, err: unknown): void {
    this.opts.log.error({ file: m.spec.path, err: String(err) }, 'render threw; the next change renders again');
  }

  private async renderNow(m: Managed, onVisible?: () => void): Promise<void> {
    const { log, metrics } = this.opts;
    const { outcome } = await renderFile(m.spec, this.data, this.templates, log.child({ file: m.spec.path }), { onVisible });
    this.saveFloors();
    const now = Date.now();
    m.status.lastRender = now;
    if (outcome.kind === 'error') {
      m.status.ok = false;
      m.status.lastError = { message: outcome.message, at: now };
      metrics.fileRenders.inc({ result: 'error' });
      log.error({ file: m.spec.path, err: outcome.message }, 'render failed; the old file stays');
      return;
    }
    m.status.ok = true;
    m.status.lastError = null;
    metrics.fileRenders.inc({ result: outcome.kind });
    if (outcome.kind === 'written' || outcome.kind === 'deleted') {
      m.status.lastChange = now;
      log.info({ file: m.spec.path, outcome: outcome.kind }, 'file updated');
      if (m.spec.onChange) this.queueAction(m.spec.onChange.action);
      this.opts.onFileChange?.(m.spec.path);
    }
  }

  /**
   * A changed file's action runs once the renders of the same change have
   * settled (plus ACTION_GRACE_MS for renders due a moment later): files
   * sharing an action, changed together, run it once, not once per file.
   */
  private queueAction(spec: ActionSpec): void {
    this.pendingActions.add(spec);
    if (this.flushingActions) return;
    this.flushingActions = true;
    void this.flushActions();
  }

  private async flushActions(): Promise<void> {
    try {
      let seen: Array<Promise<void>>;
      do {
        seen = this.files.map((m) => m.rendering);
        await Promise.all(seen);
        await sleep(ACTION_GRACE_MS, this.stop.signal, true);
      } while (!this.stop.signal.aborted && this.files.some((m, i) => m.rendering !== seen[i]));
    } finally {
      this.flushingActions = false;
      const actions = [...this.pendingActions];
      this.pendingActions.clear();
      if (!this.stop.signal.aborted) for (const a of actions) this.runner(a).trigger();
    }
  }

  /** One runner per action: files sharing an action in one burst trigger it once. */
  private runner(spec: ActionSpec): ActionRunner {
    let r = this.runners.get(spec);
    if (!r) {
      r = new ActionRunner(spec, {
        queues: this.opts.queues,
        onResult: (res, attempt, willRetry) => {
          this.opts.metrics.actionRuns.inc({ result: res.ok ? 'ok' : 'error' });
          const level = res.ok ? 'info' : 'warn';
          this.opts.log[level]({ action: spec.kind, ok: res.ok, output: res.output, attempt, willRetry }, 'reload action ran');
        },
      });
      this.runners.set(spec, r);
    }
    return r;
  }

  /** Templates may have changed: forget them and render every file again (unchanged bytes are not rewritten). */
  async refresh(): Promise<void> {
    for (const m of this.files) if (m.spec.template !== null) this.templates.invalidate(m.spec.template);
    if (this.synced) await Promise.all(this.files.map((m) => this.queueRender(m)));
  }

  /** Renders everything whose data changed and is pending (tests, `render --once`). */
  async flush(): Promise<void> {
    for (const m of this.files) m.quiet.flush();
    await Promise.all(this.files.map((m) => m.rendering));
  }

  status(): FileStatus[] {
    // A file rendered from data the registry could not confirm is stale, not ok.
    return this.files.map((m) => ({ ...m.status, ...(this.stale && m.status.ok ? { ok: false } : {}), stale: this.stale && { ...this.stale }, floor: this.floorOf(m) }));
  }

  private floorOf(m: Managed): FileStatus['floor'] {
    const sources = m.spec.sources.flatMap((s) => this.data.floorStatus(s.source, s.name ?? 'services') ?? []);
    if (sources.length === 0) return null;
    return { state: sources.some((f) => f.state === 'held') ? 'held' : 'ok', sources };
  }

  /** Saves the floors' last good sizes when they changed (a render may have taken a new good list). */
  private saveFloors(): void {
    if (!this.data.hasFloors) return;
    const sizes = this.data.floorSizes();
    const text = JSON.stringify(sizes);
    if (text === this.savedFloors) return;
    this.savedFloors = text;
    this.floorStore.save(sizes).catch((err: unknown) => this.opts.log.warn({ err: String(err) }, 'cannot save the floors\' last good sizes'));
  }

  /** A services source went below its floor or back: one log line per transition, and each file's gauge. */
  private floorChanged(id: string, transition: 'held' | 'released', st: FloorStatus): void {
    const users = this.files.filter((m) => m.sources.has(id));
    const files = users.map((m) => m.spec.path);
    const counts = { count: st.count, kept: st.kept, reference: st.reference, min: st.min, percent: st.percent };
    if (transition === 'held') this.opts.log.warn({ files, ...counts }, 'service list below its floor; keeping the last good list');
    else this.opts.log.info({ files, ...counts }, 'service list meets its floor again; rendering it');
    for (const m of users) this.opts.metrics.fileFloorHeld.set({ file: m.spec.path }, this.floorOf(m)?.state === 'held' ? 1 : 0);
  }

  /** Stops the feed and timers; waits for renders and running actions. Idempotent. */
  async close(): Promise<void> {
    this.stop.abort();
    for (const m of this.files) this.opts.metrics.fileFloorHeld.remove({ file: m.spec.path });
    for (const m of this.files) m.quiet.cancel();
    await this.follower?.stop();
    await this.marker.flush().catch((err: unknown) => this.markerFailed(err));
    await Promise.allSettled(this.loops);
    await Promise.allSettled(this.files.map((m) => m.rendering));
    await this.hooks?.close();
    await Promise.allSettled([...this.runners.values()].map((r) => r.close()));
  }
}
