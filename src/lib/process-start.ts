import type { ChildProcess } from 'node:child_process';
import { TetherError } from './errors.js';
import { spawnListed } from './process-spawn.js';
import { inheritedEnv } from './child-env.js';

/**
 * The long-lived mode of the process runner (process.ts runs a command once,
 * with captured output): a process that shares tether's stdio (a container's
 * logs are the application's) and runs until it exits or is stopped: the
 * application under `tether exec`. Same group rules as runProcess: it leads a
 * new session and process group (setsid), so a signal to the group reaches
 * everything it started.
 */

export interface StartOptions {
  /** [file, ...args], run without a shell. */
  argv: readonly string[];
  /** The whole environment (default: tether's own). */
  env?: NodeJS.ProcessEnv | undefined;
  cwd?: string | undefined;
  /**
   * What happens to the rest of the group when the leader exits: 'kill'
   * (SIGKILL: a restart must not leave a second copy of a worker running) or
   * 'leave'. Default 'kill'.
   */
  leftovers?: 'kill' | 'leave' | undefined;
}

/** How a process ended: its status, or the signal that killed it. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ProcessHandle {
  readonly pid: number;
  /** Resolves once the process has exited and been reaped. */
  readonly exited: Promise<ProcessExit>;
  /** False from its exit on. */
  readonly running: boolean;
  /** `sig` to the process itself; false when it has exited. */
  signal(sig: NodeJS.Signals): boolean;
  /** `sig` to its whole process group; false when the group is empty. */
  signalGroup(sig: NodeJS.Signals): boolean;
}

/**
 * Starts argv with stdio inherited and resolves once it runs. Rejects with
 * TetherError `process.invalid` (empty argv, a NUL byte in argv or env), `process.not_found` (ENOENT),
 * `process.not_executable` (EACCES, ENOEXEC, EISDIR) or `process.spawn_failed`.
 */
export function startProcess(opts: StartOptions): Promise<ProcessHandle> {
  const [file, ...args] = opts.argv;
  if (file === undefined || file === '') return Promise.reject(new TetherError('process.invalid', 'the command is empty'));
  const env = opts.env ?? inheritedEnv();
  const nul = nulByteIn(opts.argv, env);
  if (nul !== null) return Promise.reject(new TetherError('process.invalid', `cannot start ${file}: ${nul} holds a NUL byte`));
  let child: ChildProcess;
  try {
    child = spawnListed(file, args, { detached: true, cwd: opts.cwd, env, stdio: 'inherit' });
  } catch (err) {
    // spawn() throws for arguments it refuses; its message quotes the value, which may be a secret.
    return Promise.reject(new TetherError('process.spawn_failed', `cannot start ${file}: ${(err as NodeJS.ErrnoException).code ?? 'invalid arguments'}`));
  }
  return new Promise((resolve, reject) => {
    child.once('spawn', () => resolve(new Started(child.pid as number, child, opts.leftovers ?? 'kill')));
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return; // a failed kill of a live process: its exit still follows
      reject(startError(file, err));
    });
  });
}

/**
 * What execve cannot take (a NUL ends a C string; spawn() would throw with
 * the value in its message): named, never quoted, as an environment value may
 * be a secret from the registry.
 */
function nulByteIn(argv: readonly string[], env: NodeJS.ProcessEnv): string | null {
  const i = argv.findIndex((a) => a.includes('\0'));
  if (i !== -1) return `argument ${i}`;
  for (const [name, value] of Object.entries(env)) {
    if (name.includes('\0')) return 'the name of an environment variable';
    if (value?.includes('\0')) return `the environment variable ${name}`;
  }
  return null;
}

function startError(file: string, err: NodeJS.ErrnoException): TetherError {
  if (err.code === 'ENOENT') return new TetherError('process.not_found', `command not found: ${file}`);
  if (err.code === 'EACCES' || err.code === 'ENOEXEC' || err.code === 'EISDIR') return new TetherError('process.not_executable', `cannot execute ${file}: ${err.code}`);
  return new TetherError('process.spawn_failed', `cannot start ${file}: ${err.message}`, { cause: err });
}

class Started implements ProcessHandle {
  readonly exited: Promise<ProcessExit>;
  private exit: ProcessExit | null = null;

  constructor(
    readonly pid: number,
    child: ChildProcess,
    leftovers: 'kill' | 'leave',
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        // The group id cannot name another process while members remain, so this reaches only its own.
        if (leftovers === 'kill') this.signalGroup('SIGKILL');
        resolve(this.exit);
      }),
    );
  }

  get running(): boolean {
    return this.exit === null;
  }

  signal(sig: NodeJS.Signals): boolean {
    if (this.exit !== null) return false;
    return kill(this.pid, sig);
  }

  signalGroup(sig: NodeJS.Signals): boolean {
    return kill(-this.pid, sig);
  }
}

function kill(target: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(target, sig);
    return true;
  } catch {
    return false; // ESRCH: gone (exited, or the group is empty)
  }
}
