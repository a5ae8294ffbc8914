import { constants } from 'node:os';
import { hasCode, TetherError } from '../lib/errors.js';
import { startProcess, type ProcessExit, type ProcessHandle } from '../lib/process.js';

/** How the child ended: its status, or the signal that killed it. */
export type ChildExit = ProcessExit;

/** The exit code a shell would report: the status, or 128 + the signal's number. */
export function exitCodeOf(exit: ChildExit): number {
  if (exit.code !== null) return exit.code;
  const n = exit.signal === null ? undefined : constants.signals[exit.signal];
  return 128 + (n ?? 0);
}

/**
 * The application under `tether exec`: started by the one process runner's
 * long-lived mode (src/lib/process-start.ts), with tether's stdio, as the
 * leader of a new process group, so a stop reaches everything it started and
 * what it leaves in its group is killed when it exits.
 */
export class Child {
  readonly pid: number;
  readonly startedAt = performance.now();
  /** Resolves once the child has exited and been reaped (libuv waits for its own children). */
  readonly exited: Promise<ChildExit>;
  /** Set before a stop for a change: its exit is then a restart, not a crash. */
  restarting = false;

  private constructor(private readonly proc: ProcessHandle) {
    this.pid = proc.pid;
    this.exited = proc.exited;
  }

  /**
   * Starts argv (no shell) with exactly `env`. Rejects with TetherError
   * `exec.not_found` (exit 127 by the shell's convention) when the program
   * does not exist, `exec.not_executable` (126) when it cannot be executed.
   */
  static async start(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<Child> {
    const file = argv[0];
    if (file === undefined || file === '') throw new TetherError('exec.no_command', 'no command to run: give it after `--` or as exec.command');
    try {
      return new Child(await startProcess({ argv, env, leftovers: 'kill' }));
    } catch (err) {
      if (hasCode(err, 'process.not_found')) throw new TetherError('exec.not_found', (err as Error).message);
      if (hasCode(err, 'process.not_executable')) throw new TetherError('exec.not_executable', (err as Error).message);
      if (hasCode(err, 'process.spawn_failed')) throw new TetherError('exec.spawn_failed', (err as Error).message, { cause: err });
      throw err;
    }
  }

  get running(): boolean {
    return this.proc.running;
  }

  /** Sends `sig` to the child (forwarded signals, on-change signals). False when it has exited. */
  signal(sig: NodeJS.Signals): boolean {
    return this.proc.signal(sig);
  }

  /**
   * The stop sequence: `stopSignal` to the child, SIGKILL to its whole group
   * after `killTimeoutMs`. Resolves with how it ended, once it is reaped.
   */
  async stop(stopSignal: NodeJS.Signals, killTimeoutMs: number): Promise<ChildExit> {
    if (!this.proc.running) return this.exited;
    this.proc.signal(stopSignal);
    const timer = setTimeout(() => this.proc.signalGroup('SIGKILL'), killTimeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
