import { Backoff, sleep } from '../lib/backoff.js';
import { TetherError } from '../lib/errors.js';
import type { ExecOnChange, ExecSpec } from '../manifest/model.js';
import { Quiescence } from '../materialize/quiescence.js';
import { Child, exitCodeOf, type ChildExit } from './child.js';

/** What the supervisor reports (in /v1/status under `exec`). */
export interface ExecStatus {
  command: string[];
  state: 'starting' | 'running' | 'restarting' | 'backoff' | 'stopping' | 'exited';
  pid: number | null;
  starts: number;
  /** Restarts by reason: a change (file or environment) or a crash. */
  restarts: { change: number; crash: number };
  lastExit: { code: number | null; signal: string | null; at: number } | null;
  /** Crashes in a row without a run of at least restart_max_delay: true from the second one. */
  crashLoop: boolean;
  consecutiveCrashes: number;
  nextRestartAt: number | null;
}

export interface SupervisorHooks {
  /** The environment of the next start (read at every start: an env change restarts). */
  env(): NodeJS.ProcessEnv;
  /** The child is running (after each start). */
  onStart?(child: Child): void;
  /** The child exited (each time, before any restart). */
  onExit?(exit: ChildExit, reason: 'exit' | 'change' | 'shutdown'): void;
  onCrash?(consecutive: number, delayMs: number): void;
  onChangeAction?(action: ExecOnChange): void;
}

/**
 * Runs the child and keeps it running per the crash policy (systemd's
 * Restart=: always, on-failure, never) with exponential backoff; applies
 * on-change policies (restart or a signal, debounced and splayed); forwards
 * signals. `done` resolves with tether's exit code: the child's own (128 +
 * signal number after a signal death) when it ends for good, and rejects with
 * TetherError `exec.exited_at_once` when the first start exits within min_uptime.
 */
export class Supervisor {
  private child: Child | null = null;
  private readonly backoff: Backoff;
  private readonly quiet: Quiescence;
  private pendingRestart = false;
  private readonly pendingSignals = new Set<NodeJS.Signals>();
  private readonly stop = new AbortController();
  private acting: Promise<void> = Promise.resolve();
  private resolveDone!: (code: number) => void;
  private rejectDone!: (err: unknown) => void;
  readonly done: Promise<number>;
  private readonly st: ExecStatus;

  constructor(
    private readonly argv: readonly string[],
    private readonly spec: ExecSpec,
    private readonly hooks: SupervisorHooks,
  ) {
    this.backoff = new Backoff({ initialMs: spec.restartDelayMs, maxMs: spec.restartMaxDelayMs });
    this.quiet = new Quiescence({ minMs: spec.waitMinMs, maxMs: spec.waitMaxMs, onFire: () => this.queue(() => this.applyChanges()) });
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.st = { command: [...argv], state: 'starting', pid: null, starts: 0, restarts: { change: 0, crash: 0 }, lastExit: null, crashLoop: false, consecutiveCrashes: 0, nextRestartAt: null };
  }

  /** Starts the child. Rejects (exec.not_found, exec.not_executable...) when it cannot be started. */
  async start(): Promise<void> {
    await this.spawn();
  }

  status(): ExecStatus {
    const c = this.child;
    if (c?.running && performance.now() - c.startedAt >= this.spec.restartMaxDelayMs) {
      this.st.crashLoop = false;
      this.st.consecutiveCrashes = 0;
    }
    return { ...this.st, command: [...this.st.command], restarts: { ...this.st.restarts } };
  }

  /** The child's pid while it runs. */
  get pid(): number | null {
    return this.child?.running ? this.child.pid : null;
  }

  /** Forwards a signal to the running child (SIGINT, SIGHUP, SIGUSR1...). */
  forward(sig: NodeJS.Signals): void {
    this.child?.signal(sig);
  }

  /** A change asks for `action`; bursts are debounced (exec.wait) and splayed (exec.splay). */
  change(action: ExecOnChange): void {
    if (action.kind === 'none' || this.stop.signal.aborted) return;
    if (action.kind === 'restart') this.pendingRestart = true;
    else this.pendingSignals.add(action.signal);
    this.quiet.poke();
  }

  /**
   * Stops the child for good: `signal` (default exec.stop_signal), SIGKILL to
   * its group after the kill timeout; resolves with `done`'s exit code.
   */
  async shutdown(signal: NodeJS.Signals = this.spec.stopSignal): Promise<number> {
    if (this.st.state !== 'exited') {
      this.beginShutdown();
      const child = this.child;
      if (child?.running) await child.stop(signal, this.spec.killTimeoutMs);
    }
    return this.done;
  }

  /**
   * The shutdown has begun (deregistration, then the drain, come before the
   * stop): from now on neither a change nor a crash starts the child again,
   * as its service would come back and a new copy start while tether stops;
   * its next exit ends `done` with its status. Idempotent.
   */
  beginShutdown(): void {
    if (this.stop.signal.aborted) return;
    this.stop.abort();
    this.quiet.cancel();
    this.st.state = 'stopping';
    if (!this.child?.running) this.finish(this.lastExitCode());
  }

  private lastExitCode(): number {
    const last = this.st.lastExit;
    return last ? exitCodeOf({ code: last.code, signal: last.signal as NodeJS.Signals | null }) : 0;
  }

  private queue(fn: () => Promise<void>): void {
    this.acting = this.acting.then(fn).catch((err: unknown) => this.fail(err));
  }

  private async applyChanges(): Promise<void> {
    if (this.spec.splayMs > 0) await sleep(Math.random() * this.spec.splayMs, this.stop.signal);
    if (this.stop.signal.aborted) return;
    const restart = this.pendingRestart;
    const signals = [...this.pendingSignals];
    this.pendingRestart = false;
    this.pendingSignals.clear();
    if (restart) {
      this.hooks.onChangeAction?.({ kind: 'restart' });
      await this.restartForChange();
      return;
    }
    for (const signal of signals) {
      this.hooks.onChangeAction?.({ kind: 'signal', signal });
      this.child?.signal(signal);
    }
  }

  private async restartForChange(): Promise<void> {
    const child = this.child;
    if (!child?.running) return; // in backoff: the next start reads the new env and files anyway
    this.st.state = 'restarting';
    child.restarting = true;
    await child.stop(this.spec.stopSignal, this.spec.killTimeoutMs);
    if (this.stop.signal.aborted) return;
    this.st.restarts.change++;
    await this.spawn();
  }

  private async spawn(): Promise<void> {
    const child = await Child.start(this.argv, this.hooks.env());
    this.child = child;
    this.st.starts++;
    this.st.pid = child.pid;
    this.st.state = 'running';
    this.st.nextRestartAt = null;
    this.hooks.onStart?.(child);
    void child.exited.then((exit) => this.onExit(child, exit));
  }

  private onExit(child: Child, exit: ChildExit): void {
    this.st.lastExit = { code: exit.code, signal: exit.signal, at: Date.now() };
    this.st.pid = null;
    const reason = this.stop.signal.aborted ? 'shutdown' : child.restarting ? 'change' : 'exit';
    this.hooks.onExit?.(exit, reason);
    if (reason === 'shutdown') return this.finish(exitCodeOf(exit));
    if (reason === 'change') return;
    const uptime = performance.now() - child.startedAt;
    const failed = exit.code !== 0;
    const again = this.spec.restart === 'always' || (this.spec.restart === 'on-failure' && failed);
    // A first run that ends at once is bad input (a wrong flag, a missing file), not a crash to retry forever.
    if (this.st.starts === 1 && uptime < this.spec.minUptimeMs && (failed || again)) {
      const how = exit.code !== null ? `exit status ${exit.code}` : `killed by ${exit.signal}`;
      const message = `the command exited at once (${how}, ${Math.round(uptime)} ms after it started)`;
      return this.fail(new TetherError('exec.exited_at_once', message, { cause: { exitCode: exitCodeOf(exit) } }));
    }
    if (!again) return this.finish(exitCodeOf(exit));
    this.scheduleCrashRestart(uptime);
  }

  private scheduleCrashRestart(uptimeMs: number): void {
    // A run as long as the longest delay is a recovery: the next crash starts the backoff over.
    if (uptimeMs >= this.spec.restartMaxDelayMs) {
      this.backoff.reset();
      this.st.consecutiveCrashes = 0;
    }
    this.st.consecutiveCrashes++;
    this.st.crashLoop = this.st.consecutiveCrashes >= 2;
    const delay = this.backoff.next();
    this.st.state = 'backoff';
    this.st.nextRestartAt = Date.now() + delay;
    this.hooks.onCrash?.(this.st.consecutiveCrashes, delay);
    this.queue(async () => {
      await sleep(delay, this.stop.signal);
      if (this.stop.signal.aborted) return this.finish(this.lastExitCode());
      this.st.restarts.crash++;
      await this.spawn();
    });
  }

  private finish(code: number): void {
    this.st.state = 'exited';
    this.stop.abort();
    this.quiet.cancel();
    this.resolveDone(code);
  }

  private fail(err: unknown): void {
    this.st.state = 'exited';
    this.stop.abort();
    this.quiet.cancel();
    this.rejectDone(err);
  }
}
