import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { watch } from 'chokidar';
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
 */
export function watchPaths(paths: () => string[], onChange: () => void, log: Logger, opts: WatchOptions = {}): () => Promise<void> {
  const quietMs = opts.quietMs ?? QUIET_MS;
  let applied = fingerprint(paths());
  let pending: string | null = null;
  let timer: NodeJS.Timeout | undefined;
  const dirs = new Set(watchDirs(paths()));
  const watcher = watch([...dirs], { ignoreInitial: true, depth: 0 });

  const look = (): void => {
    clearTimeout(timer);
    timer = undefined;
    const now = fingerprint(paths());
    if (now === applied) {
      pending = null;
      return;
    }
    if (now !== pending) {
      // Changed since the last look: wait for a quiet period.
      pending = now;
      timer = setTimeout(look, quietMs);
      return;
    }
    applied = now;
    pending = null;
    for (const d of watchDirs(paths())) {
      if (!dirs.has(d)) (dirs.add(d), watcher.add(d));
    }
    onChange();
  };

  watcher.on('all', (event, path) => {
    log.debug({ event, path }, 'manifest path changed');
    // Every event restarts the quiet period; `look` then applies what it finds unchanged since.
    pending = fingerprint(paths());
    clearTimeout(timer);
    timer = setTimeout(look, quietMs);
  });
  watcher.on('error', (err) => log.warn({ err }, 'manifest watcher error'));
  const poll = setInterval(() => {
    if (timer === undefined) look();
  }, opts.pollMs ?? POLL_MS);
  poll.unref();
  return async () => {
    clearTimeout(timer);
    clearInterval(poll);
    await watcher.close();
  };
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
