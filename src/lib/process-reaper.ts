import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isListedChild } from './process-spawn.js';

/**
 * Reaping of orphans when tether is PID 1 (a container without an init).
 *
 * The kernel re-parents an orphan (the grandchild of a double fork) to PID 1,
 * and only its parent can reap it; Node (libuv) waits only for the pids it
 * spawned, so such orphans would stay zombies. The native addon
 * (native/reaper.c) offers waitpid(pid, WNOHANG) for ONE pid; on each SIGCHLD
 * we list the zombies whose parent is us and reap those tether did not spawn
 * (process-spawn.ts lists those: libuv reaps them, and taking their status
 * would hide their exit from libuv for good). Nothing here waits for "any child".
 */

export interface ReaperAddon {
  /** The pid when reaped, 0 while it runs, -errno when waitpid fails. */
  reap(pid: number): number;
}

export interface OrphanReaper {
  /** Orphans reaped so far. */
  readonly reaped: number;
  stop(): void;
}

const ADDON_PATH = join('native', 'build', 'Release', 'tether_reaper.node');

/**
 * The addon, from the package root: the first directory above this module
 * that holds native/build/Release/tether_reaper.node (src/lib and dist/lib
 * are two levels down, the CLI bundle's chunks in dist/cli too, the tests'
 * build deeper under node_modules/.cache). Null when it is not built or
 * does not load (it is optional: see native/build.mjs).
 */
export function loadReaperAddon(from: string = import.meta.url): ReaperAddon | null {
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    const file = join(dir, ADDON_PATH);
    if (existsSync(file)) return dlopen(file);
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

function dlopen(file: string): ReaperAddon | null {
  const mod = { exports: {} as Partial<ReaperAddon> };
  try {
    process.dlopen(mod, file);
  } catch {
    return null; // another platform's build, a libc mismatch: run without it
  }
  return typeof mod.exports.reap === 'function' ? (mod.exports as ReaperAddon) : null;
}

/**
 * Reaps, from now until stop(), every zombie whose parent is this process
 * and that tether did not spawn: once at start (orphans that died before),
 * then after each SIGCHLD (an orphan's death signals its new parent; the
 * kernel merges SIGCHLDs that arrive while one is pending, and one scan finds
 * every zombie there is).
 */
export function startOrphanReaper(addon: ReaperAddon, onError: (err: unknown) => void = () => {}): OrphanReaper {
  let reaped = 0;
  let stopped = false;
  const scan = (): void => {
    if (stopped) return;
    try {
      reaped += reapZombieOrphans(addon);
    } catch (err) {
      onError(err); // no /proc: nothing to reap by
    }
  };
  process.on('SIGCHLD', scan);
  scan();
  return {
    get reaped() {
      return reaped;
    },
    stop: () => {
      stopped = true;
      process.off('SIGCHLD', scan);
    },
  };
}

/**
 * One pass over /proc: reaps the zombie children of this process that are
 * not listed as spawned. Synchronous on purpose: /proc reads never block on
 * disk, and the thread pool's open/read/close per file cost ~11x the CPU
 * (measured on a host with ~170 processes: 4.8 ms a scan against 55 ms; a
 * container holds a handful). And no spawn can run between the listing check and the wait.
 */
function reapZombieOrphans(addon: ReaperAddon): number {
  let n = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid || isListedChild(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone since the listing
    }
    // Fields after the command name, which may hold spaces and ')': state, then the parent's pid.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ', 2);
    if (state === 'Z' && Number(ppid) === process.pid && addon.reap(pid) === pid) n++;
  }
  return n;
}
