import type { ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { TetherError } from './errors.js';
import { OutputCapture } from './output-capture.js';
import { trackGroup, untrackGroup } from './process-groups.js';
import { spawnListed } from './process-spawn.js';
import { inheritedEnv } from './child-env.js';

export { startProcess, type ProcessExit, type ProcessHandle, type StartOptions } from './process-start.js';

/**
 * The one process runner: exec probes, exec actions, hooks (through actions)
 * and the file check command all start their commands here, and `tether
 * exec` its application (startProcess, the long-lived mode: process-start.ts).
 *
 * A command runs as the leader of a new process group (detached: setsid), so
 * a timeout or an abort reaches everything it started: SIGTERM to the group,
 * SIGKILL after a grace. Its output is captured up to a cap; past the cap the
 * pipes are read slowly and dropped (see OutputCapture), so a command that
 * floods its output costs the agent almost nothing.
 */

export interface RunOptions {
  /** [file, ...args], run without a shell. */
  argv: readonly string[];
  /** Run `argv` joined with spaces by `/bin/sh -c` instead (the manifest's `shell: true`). */
  shell?: boolean | undefined;
  /** The whole environment (default: the agent's own). */
  env?: NodeJS.ProcessEnv | undefined;
  cwd?: string | undefined;
  /** Written to stdin, which is then closed; without it stdin is /dev/null. */
  stdin?: string | Buffer | undefined;
  /** At the timeout the group is stopped and the result says `timedOut` (default: none). */
  timeoutMs?: number | undefined;
  /** Aborting stops the group; the call then rejects with `signal.reason`. */
  signal?: AbortSignal | undefined;
  /** Between the group's SIGTERM and its SIGKILL (default 1000 ms; 0: SIGKILL at once). */
  killGraceMs?: number | undefined;
  /** Bytes of stdout+stderr kept, interleaved as they came (default 4096). */
  outputLimit?: number | undefined;
  /** Which end of a longer output is kept (default 'head'). */
  keep?: 'head' | 'tail' | undefined;
  /**
   * What happens to the rest of the group when the leader exits on its own:
   * 'kill' (a check's leftovers would pile up every interval) or 'leave' (a
   * reload script may start a daemon on purpose). Default 'kill'.
   */
  leftovers?: 'kill' | 'leave' | undefined;
}

export interface RunResult {
  /** Exit status, or null when a signal ended the command. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The timeout stopped the command. */
  timedOut: boolean;
  /** The kept output as UTF-8, with "…" where it was cut. */
  output: string;
  /** Bytes of output read in all (past the cap they are dropped). */
  outputBytes: number;
  truncated: boolean;
  durationMs: number;
}

const DEFAULT_GRACE_MS = 1000;
const DEFAULT_OUTPUT_LIMIT = 4096;
/** After the leader exits, how long something it left behind may hold our pipes before we stop reading them. */
const PIPE_DRAIN_MS = 100;

/**
 * Runs a command once and resolves with how it ended (a non-zero status, a
 * signal or the timeout is a result, not an error). Rejects with TetherError
 * `process.invalid` for an empty argv, `process.not_found` for a missing
 * executable and `process.spawn_failed` when it cannot start otherwise
 * (EACCES…); on abort, stops the group and rejects with `signal.reason` once
 * the leader has exited and been reaped.
 */
export function runProcess(opts: RunOptions): Promise<RunResult> {
  const argv = opts.shell === true ? ['/bin/sh', '-c', opts.argv.join(' ')] : opts.argv;
  const [file, ...args] = argv;
  if (file === undefined || file === '') return Promise.reject(new TetherError('process.invalid', 'the command is empty'));
  if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
  return new Promise((resolve, reject) => new GroupRun(file, args, opts, resolve, reject).start());
}

/** "exit status 3" or "killed by SIGTERM": how a command ended, for output texts. */
export function describeExit(result: Pick<RunResult, 'code' | 'signal'>): string {
  return result.code !== null ? `exit status ${result.code}` : `killed by ${result.signal ?? 'a signal'}`;
}

/** One started command: its group, its pipes, its timers. */
class GroupRun {
  private child!: ChildProcess;
  private readonly capture: OutputCapture;
  private readonly started = performance.now();
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private timedOut = false;
  private stopping = false;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly file: string,
    private readonly args: string[],
    private readonly opts: RunOptions,
    private readonly resolve: (r: RunResult) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    this.capture = new OutputCapture(opts.outputLimit ?? DEFAULT_OUTPUT_LIMIT, opts.keep ?? 'head');
  }

  start(): void {
    const { opts } = this;
    const stdin = opts.stdin === undefined ? 'ignore' : 'pipe';
    // detached: the child calls setsid(), so its pid is also its process group id.
    this.child = spawnListed(this.file, this.args, { detached: true, cwd: opts.cwd, env: opts.env ?? inheritedEnv(), stdio: [stdin, 'pipe', 'pipe'] });
    // Killed with the agent, whatever way it ends, while the leader runs (process-groups.ts).
    if (this.child.pid !== undefined) trackGroup(this.child.pid);
    this.capture.read(this.child.stdout as Readable);
    this.capture.read(this.child.stderr as Readable);
    if (this.child.stdin) {
      this.child.stdin.on('error', () => {}); // EPIPE: the command did not read its input
      this.child.stdin.end(opts.stdin);
    }
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
    if (opts.timeoutMs !== undefined) this.timers.push(setTimeout(this.onTimeout, opts.timeoutMs));
    this.child.once('exit', (code, signal) => this.onExit(code, signal));
    this.child.once('error', (err: NodeJS.ErrnoException) => this.onError(err));
    this.child.once('close', () => this.onClose());
  }

  private readonly onAbort = (): void => this.stop();

  private readonly onTimeout = (): void => {
    this.timedOut = true;
    this.stop();
  };

  /** SIGTERM to the group, SIGKILL after the grace (at once with none). */
  private stop(): void {
    if (this.stopping || this.exit !== null) return;
    this.stopping = true;
    const grace = this.opts.killGraceMs ?? DEFAULT_GRACE_MS;
    this.signalGroup(grace > 0 ? 'SIGTERM' : 'SIGKILL');
    if (grace > 0) this.timers.push(setTimeout(() => this.signalGroup('SIGKILL'), grace));
  }

  private signalGroup(sig: NodeJS.Signals): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, sig);
    } catch {
      // ESRCH: the group is already empty.
    }
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.exit = { code, signal };
    if (this.child.pid !== undefined) untrackGroup(this.child.pid);
    // What the leader left in its group: killed now for a check; a timeout or abort gets it all.
    // The group id cannot name another process while members remain.
    if ((this.opts.leftovers ?? 'kill') === 'kill' || this.stopping) this.signalGroup('SIGKILL');
    // What it wrote last is read at once; a process that left the group (its own setsid) may hold
    // our pipes for good, so they are read for PIPE_DRAIN_MS at most.
    this.capture.unthrottle();
    this.timers.push(setTimeout(() => this.capture.destroy(), PIPE_DRAIN_MS));
  }

  private onError(err: NodeJS.ErrnoException): void {
    if (this.child.pid !== undefined) return; // a failed kill on a live child: 'close' still follows
    this.cleanup();
    if (this.opts.signal?.aborted) return this.reject(this.opts.signal.reason);
    if (err.code === 'ENOENT') this.reject(new TetherError('process.not_found', `executable not found: ${this.file}`));
    else this.reject(new TetherError('process.spawn_failed', `cannot start ${this.file}: ${err.message}`, { cause: err }));
  }

  private onClose(): void {
    if (this.child.pid === undefined) return; // spawn failed: settled by 'error'
    this.cleanup();
    const { signal } = this.opts;
    if (signal?.aborted) return this.reject(signal.reason);
    const exit = this.exit ?? { code: this.child.exitCode, signal: this.child.signalCode };
    this.resolve({
      code: exit.code,
      signal: exit.signal,
      timedOut: this.timedOut,
      output: this.capture.text(),
      outputBytes: this.capture.bytes,
      truncated: this.capture.truncated,
      durationMs: Math.round((performance.now() - this.started) * 1000) / 1000,
    });
  }

  private cleanup(): void {
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    for (const t of this.timers) clearTimeout(t);
    this.capture.destroy(); // its pause timers; the pipes are closed already
  }
}
