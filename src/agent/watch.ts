import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';

/**
 * How long the watched files must stay unchanged before a reload: a tool that
 * writes a manifest in two parts with a pause (a config-management run, a
 * slow `cat > file`) is applied once, whole, not half-written in between.
 */
export const QUIET_MS = 1000;

/** A safety net for file systems that drop events (NFS, some bind mounts): the files are compared this often anyway. */
export const POLL_MS = 5000;

export interface WatchOptions {
  quietMs?: number | undefined;
  pollMs?: number | undefined;
}

/**
 * Watches the manifest path (a file, or a conf.d directory) and extra files
 * (templates) and calls `onChange` once their contents changed and then
 * stayed unchanged for `quietMs`.
 *
 * It watches the parent DIRECTORIES, not the files, and compares contents:
 * a file replaced by rename (editors' atomic save), deleted and created again,
 * reached through a swapped symlink (Kubernetes ConfigMap `..data`) or moved
 * through a backup dance is followed like an in-place write, and an event
 * that changed nothing (a chmod, a neighbour file) reloads nothing. `paths`
 * is read again at each look, so templates added by a reload are followed.
 * Returns a function that stops watching.
 *
 * One `fs.watch` (inotify) per directory, and an event only restarts the
 * quiet timer: the files are read once, when it ends. A directory that also
 * holds busy neighbours (the agent's own log file, rendered files) then
 * costs a timer per event, not a directory listing and a stat of every entry
 * (what a chokidar watcher did on each event) nor a read of the manifest.
 */
export function watchPaths(paths: () => string[], onChange: () => void, log: Logger, opts: WatchOptions = {}): () => Promise<void> {
  const quietMs = opts.quietMs ?? QUIET_MS;
  let applied = fingerprint(paths());
  /** What the last poll-started look saw changed, waiting to be seen again unchanged; null otherwise. */
  let pending: string | null = null;
  let timer: NodeJS.Timeout | undefined;
  const dirs = new DirWatchers(() => {
    // Every event restarts the quiet period; `look` then applies what it finds.
    pending = null;
    clearTimeout(timer);
    timer = setTimeout(() => look(true), quietMs);
  }, log);
  dirs.follow(watchDirs(paths()));

  /** `calm`: an event timer ended, so the directories had no event for `quietMs`. */
  const look = (calm: boolean): void => {
    clearTimeout(timer);
    timer = undefined;
    const now = fingerprint(paths());
    if (now === applied) {
      pending = null;
      return;
    }
    if (!calm && now !== pending) {
      // Seen changed by a poll (no event said so): wait for it to stay so for a quiet period.
      pending = now;
      timer = setTimeout(() => look(false), quietMs);
      return;
    }
    applied = now;
    pending = null;
    dirs.follow(watchDirs(paths()));
    onChange();
  };

  const poll = setInterval(() => {
    dirs.follow(watchDirs(paths()));
    if (timer === undefined) look(false);
  }, opts.pollMs ?? POLL_MS);
  poll.unref();
  return async () => {
    clearTimeout(timer);
    clearInterval(poll);
    dirs.close();
  };
}

/** One fs.watch per directory, made again when the directory was replaced or could not be watched before. */
class DirWatchers {
  private readonly watching = new Map<string, { watcher: FSWatcher; ino: number }>();

  constructor(
    private readonly onEvent: () => void,
    private readonly log: Logger,
  ) {}

  /** Watches each of `dirs` not watched yet (or whose directory is no longer the one watched). */
  follow(dirs: string[]): void {
    for (const d of dirs) {
      const ino = inodeOf(d);
      const w = this.watching.get(d);
      if (w !== undefined && w.ino === ino) continue;
      if (w !== undefined) this.drop(d);
      if (ino === null) continue; // not there (yet): the next poll looks again
      try {
        const watcher = watch(d, (event, name) => {
          this.log.debug({ event, path: name === null ? d : join(d, name.toString()) }, 'manifest path changed');
          this.onEvent();
        });
        watcher.on('error', (err) => {
          this.log.warn({ err, dir: d }, 'manifest watcher error');
          this.drop(d);
        });
        this.watching.set(d, { watcher, ino });
      } catch (err) {
        this.log.warn({ err, dir: d }, 'cannot watch the manifest directory; comparing it every poll');
      }
    }
  }

  private drop(d: string): void {
    this.watching.get(d)?.watcher.close();
    this.watching.delete(d);
  }

  close(): void {
    for (const d of [...this.watching.keys()]) this.drop(d);
  }
}

function inodeOf(dir: string): number | null {
  try {
    return statSync(dir).ino;
  } catch {
    return null;
  }
}

/** The directories whose entries decide what the paths read: each file's parent, a directory itself. */
function watchDirs(paths: string[]): string[] {
  return [
    ...new Set(
      paths.map((p) => {
        const abs = resolve(p);
        return isDir(abs) ? abs : dirname(abs);
      }),
    ),
  ];
}

/** A hash of what the paths read now (symlinks followed; a directory: its manifest files). */
export function fingerprint(paths: string[]): string {
  const h = createHash('sha256');
  for (const p of paths) {
    const abs = resolve(p);
    const files = isDir(abs) ? listYaml(abs) : [abs];
    for (const f of files) {
      h.update(f).update('\0');
      try {
        h.update(readFileSync(f));
      } catch (err) {
        h.update(`<${(err as NodeJS.ErrnoException).code ?? 'error'}>`);
      }
      h.update('\0');
    }
  }
  return h.digest('hex');
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function listYaml(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => /\.ya?ml$/.test(n) && !n.startsWith('.'))
      .sort()
      .map((n) => join(dir, n));
  } catch {
    return [];
  }
}
