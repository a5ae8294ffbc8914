import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { inheritedEnv } from './child-env.js';

/**
 * The only call of child_process in src/ (test/lib/one-spawner.test.ts holds
 * it to that): every process tether starts is listed here from the moment
 * spawn() returns until libuv has reaped it ('exit'). The orphan reaper
 * (process-reaper.ts) reaps only zombies NOT listed, so it never takes the
 * exit status of a process libuv waits for: libuv would then never report
 * that exit (it ignores ECHILD), and `tether exec` would wait for its child forever.
 */
const spawned = new Set<number>();

/**
 * child_process.spawn, with the pid listed while the process is ours to wait for.
 * Without `options.env` the child inherits tether's environment minus the
 * agent's secrets (child-env.ts); callers that pass an env build it from inheritedEnv().
 */
export function spawnListed(file: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const child = spawn(file, args, { ...options, env: options.env ?? inheritedEnv() });
  const pid = child.pid;
  // Listed synchronously, before any SIGCHLD handler can run: JavaScript runs to completion.
  if (pid !== undefined) {
    spawned.add(pid);
    child.once('exit', () => spawned.delete(pid));
  }
  return child;
}

/** True while `pid` is a process tether started and libuv has not reaped yet. */
export function isListedChild(pid: number): boolean {
  return spawned.has(pid);
}
