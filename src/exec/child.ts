import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { TetherError } from '../lib/errors.js';

/** How the child ended: its status, or the signal that killed it. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The exit code a shell would report: the status, or 128 + the signal's number. */
export function exitCodeOf(exit: ChildExit): number {
  if (exit.code !== null) return exit.code;
  const n = exit.signal === null ? undefined : constants.signals[exit.signal];
  return 128 + (n ?? 0);
}

/**
 * The application under `tether exec`. Unlike the capped-output runner of
 * probes and actions (src/lib/process.ts), its stdio is tether's own (a
 * container's logs are the child's) and it lives until told to stop, so it is
 * spawned here; the process-group rules are the same: it leads a new group
 * (detached: setsid), so a stop reaches everything it started.
 */
export class Child {
  readonly pid: number;
  readonly startedAt = performance.now();
  /** Resolves once the child has exited and been reaped (libuv waits for its own children). */
  readonly exited: Promise<ChildExit>;
  private exit: ChildExit | null = null;
  /** Set before a stop for a change: its exit is then a restart, not a crash. */
  restarting = false;

  private constructor(private readonly proc: ChildProcess, pid: number) {
    this.pid = pid;
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        this.exit = { code, signal };
        // What the leader left in its group (a restart must not leave a second copy running).
        this.signalGroup('SIGKILL');
        resolve(this.exit);
      }),
    );
  }

  /**
   * Starts argv (no shell) with exactly `env`. Rejects with TetherError
   * `exec.not_found` (exit 127 by the shell's convention) when the program
   * does not exist, `exec.not_executable` (126) when it cannot be executed.
   */
  static start(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<Child> {
    const [file, ...args] = argv;
    if (file === undefined || file === '') return Promise.reject(new TetherError('exec.no_command', 'no command to run: give it after `--` or as exec.command'));
    const proc = spawn(file, args, { detached: true, env, stdio: 'inherit' });
    return new Promise((resolve, reject) => {
      proc.once('spawn', () => resolve(new Child(proc, proc.pid as number)));
      proc.once('error', (err: NodeJS.ErrnoException) => {
        if (proc.pid !== undefined) return;
        if (err.code === 'ENOENT') reject(new TetherError('exec.not_found', `command not found: ${file}`));
        else if (err.code === 'EACCES' || err.code === 'ENOEXEC' || err.code === 'EISDIR') reject(new TetherError('exec.not_executable', `cannot execute ${file}: ${err.code}`));
        else reject(new TetherError('exec.spawn_failed', `cannot start ${file}: ${err.message}`, { cause: err }));
      });
    });
  }

  get running(): boolean {
    return this.exit === null;
  }

  /** Sends `sig` to the child (forwarded signals, on-change signals). False when it has exited. */
  signal(sig: NodeJS.Signals): boolean {
    if (this.exit !== null) return false;
    try {
      process.kill(this.pid, sig);
      return true;
    } catch {
      return false; // ESRCH: exited, not reaped yet
    }
  }

  /**
   * The stop sequence: `stopSignal` to the child, SIGKILL to its whole group
   * after `killTimeoutMs`. Resolves with how it ended, once it is reaped.
   */
  async stop(stopSignal: NodeJS.Signals, killTimeoutMs: number): Promise<ChildExit> {
    if (this.exit !== null) return this.exit;
    this.signal(stopSignal);
    const timer = setTimeout(() => this.signalGroup('SIGKILL'), killTimeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private signalGroup(sig: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, sig);
    } catch {
      // ESRCH: the group is empty.
    }
  }
}
