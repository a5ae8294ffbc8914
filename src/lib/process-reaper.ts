import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
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
  /** Resolves when no scan is running or queued (for tests and shutdown). */
  idle(): Promise<void>;
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
 * then after each SIGCHLD (an orphan's death signals its new parent). Scans
 * do not overlap; signals during a scan make one more.
 */
export function startOrphanReaper(addon: ReaperAddon, onError: (err: unknown) => void = () => {}): OrphanReaper {
  let reaped = 0;
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  const scanLoop = async (): Promise<void> => {
    do {
      again = false;
      reaped += await reapZombieOrphans(addon).catch((err: unknown) => (onError(err), 0));
    } while (again && !stopped);
    running = null;
  };
  const onSigchld = (): void => {
    if (stopped) return;
    if (running) again = true;
    else running = scanLoop();
  };
  process.on('SIGCHLD', onSigchld);
  onSigchld();
  return {
    get reaped() {
      return reaped;
    },
    idle: async () => {
      while (running) await running;
    },
    stop: () => {
      stopped = true;
      process.off('SIGCHLD', onSigchld);
    },
  };
}

/** One pass over /proc: reaps the zombie children of this process that are not listed as spawned. */
async function reapZombieOrphans(addon: ReaperAddon): Promise<number> {
  let n = 0;
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid || isListedChild(pid)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // Fields after the command name, which may hold spaces and ')': state, then the parent's pid.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ', 2);
    // Checked again right before the wait: a pid spawned during the reads is listed by now.
    if (state === 'Z' && Number(ppid) === process.pid && !isListedChild(pid) && addon.reap(pid) === pid) n++;
  }
  return n;
}
