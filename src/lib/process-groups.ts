import type { ChildProcess } from 'node:child_process';
import { spawnListed } from './process-spawn.js';

/**
 * The process groups of running commands (checks, actions, hooks), so that
 * none outlives the agent:
 *
 * - on every exit path Node runs (`exit`: a normal stop, a fatal error), the
 *   groups still running are SIGKILLed synchronously;
 * - for a SIGKILL of the agent, which runs nothing, a watchdog: a small `sh`
 *   started once, in a group of its own, reading "+ PGID" / "- PGID" lines
 *   on a pipe. When the agent dies, however it dies, the kernel closes the
 *   pipe; `read` sees EOF and the watchdog kills the groups still listed.
 *   (prctl PR_SET_PDEATHSIG is not reachable from Node, and a child of ours
 *   cannot be put in the agent's group without losing the kill-the-whole-group
 *   timeout.) A group is listed only while its leader runs: what an action
 *   deliberately leaves behind (a daemon it started) is not ours to kill.
 */
const live = new Set<number>();
let watchdog: ChildProcess | null = null;
let exitHook = false;

const SCRIPT = `groups=" "
while read -r op id; do
  case "$op" in
    +) groups="$groups$id " ;;
    -) n=" "; for g in $groups; do [ "$g" = "$id" ] || n="$n$g "; done; groups="$n" ;;
  esac
done
for g in $groups; do kill -9 "-$g" 2>/dev/null; done`;

/** Lists a running command's group (its leader's pid). */
export function trackGroup(pgid: number): void {
  live.add(pgid);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', killTrackedGroups);
  }
  send(`+ ${pgid}\n`);
}

/** The leader exited: the group is no longer ours to kill at exit. */
export function untrackGroup(pgid: number): void {
  if (live.delete(pgid)) send(`- ${pgid}\n`);
}

/** SIGKILLs every listed group now (synchronous: safe in an `exit` handler). */
export function killTrackedGroups(): void {
  for (const g of live) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      // ESRCH: already gone.
    }
  }
  live.clear();
}

/** Starts the watchdog once per process (the agent calls it at start). Never keeps the process alive. */
export function startGroupWatchdog(): void {
  if (watchdog !== null || process.platform === 'win32') return;
  const child = spawnListed('/bin/sh', ['-c', SCRIPT], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  child.on('error', () => {
    watchdog = null; // no sh: the exit hook still covers every exit but SIGKILL
  });
  child.stdin?.on('error', () => {});
  child.unref();
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  watchdog = child;
  for (const g of live) send(`+ ${g}\n`);
}

function send(line: string): void {
  if (watchdog?.stdin && !watchdog.stdin.destroyed) watchdog.stdin.write(line);
}
