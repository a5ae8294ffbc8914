import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { TetherError } from '../../src/lib/errors.js';
import type { Cleanup } from './cleanup.js';

/**
 * The stopwatch's far end: the moment given bytes are in a file.
 *
 * `watch` (default): `fs.watch` on the file's directory (inotify). Atomic
 * writers stage a temp file and rename it over the destination, so the
 * destination's name shows up as a `rename` event; each event naming it is
 * confirmed by a synchronous read (a few µs for a small file) and timed at
 * the event's arrival. A slow backstop read (every BACKSTOP_MS) catches a
 * missed event: it still ends the round, and is counted in `missed`, so a
 * report can say when fs.watch was not to be trusted.
 *
 * `poll`: a read every millisecond (as tight as Node's timers go), for
 * file systems where inotify does not work (some network and FUSE mounts).
 */

export type DetectMode = 'watch' | 'poll';

export const DETECT_MODES: readonly DetectMode[] = ['watch', 'poll'];

/** How often watch mode reads the file anyway, to catch a missed event. */
export const BACKSTOP_MS = 200;
const POLL_MS = 1;

interface Pending {
  expected: string;
  resolve(at: number): void;
  reject(err: unknown): void;
  timeout?: NodeJS.Timeout;
  /** The next backstop or poll read. */
  tick?: NodeJS.Timeout;
}

export class FileObserver {
  /** Rounds a backstop read ended because no fs.watch event came first (watch mode). */
  missed = 0;
  private readonly name: string;
  private readonly watcher: FSWatcher | null;
  private pending: Pending | null = null;

  /** Starts watching `path`'s directory (which must exist); `cleanup` stops it. */
  constructor(
    cleanup: Cleanup,
    private readonly path: string,
    readonly mode: DetectMode,
  ) {
    this.name = basename(path);
    this.watcher = mode === 'watch' ? watch(dirname(path), (_event, file) => this.onEvent(file)) : null;
    this.watcher?.on('error', (err) => this.pending?.reject(new TetherError('bench.watch', `fs.watch of ${dirname(path)} failed: ${err.message}`, { cause: err })));
    cleanup.add({ name: `watch ${path}`, close: async () => this.close(), kill: () => this.close() });
  }

  /** The file's text now, or null when it does not exist (yet). */
  read(): string | null {
    try {
      return readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') return null;
      throw err;
    }
  }

  /**
   * Resolves with performance.now() at the first observation of the file
   * holding exactly `expected`. Arm it BEFORE causing the write. Rejects
   * (TetherError `bench.timeout`) after `timeoutMs`, or when the watch fails.
   * One wait at a time.
   */
  waitFor(expected: string, timeoutMs: number): Promise<number> {
    if (this.pending !== null) throw new TetherError('bench.internal', 'FileObserver: one waitFor at a time');
    return new Promise<number>((resolve, reject) => {
      const p: Pending = {
        expected,
        resolve: (at) => this.settle(p, () => resolve(at)),
        reject: (err) => this.settle(p, () => reject(err)),
      };
      this.pending = p;
      p.timeout = setTimeout(
        () => p.reject(new TetherError('bench.timeout', `${this.path} did not get ${JSON.stringify(expected)} within ${timeoutMs} ms (now ${JSON.stringify(this.read())})`)),
        timeoutMs,
      );
      this.schedule(p, this.mode === 'watch' ? BACKSTOP_MS : POLL_MS);
    });
  }

  private onEvent(file: string | Buffer | null): void {
    const p = this.pending;
    // A null name means the platform did not say which file: check ours.
    if (p === null || (file !== null && file.toString() !== this.name)) return;
    const at = performance.now();
    if (this.matches(p)) p.resolve(at);
  }

  /** The backstop (watch) or the poll loop (poll): read every `ms` until settled. */
  private schedule(p: Pending, ms: number): void {
    p.tick = setTimeout(() => {
      if (this.pending !== p) return;
      const at = performance.now();
      if (this.matches(p)) {
        if (this.mode === 'watch') this.missed++;
        p.resolve(at);
      } else {
        this.schedule(p, ms);
      }
    }, ms);
  }

  private matches(p: Pending): boolean {
    try {
      return this.read() === p.expected;
    } catch (err) {
      p.reject(err);
      return false;
    }
  }

  private settle(p: Pending, fn: () => void): void {
    if (this.pending !== p) return;
    this.pending = null;
    clearTimeout(p.timeout);
    clearTimeout(p.tick);
    fn();
  }

  close(): void {
    this.watcher?.close();
    this.pending?.reject(new TetherError('bench.interrupted', `stopped watching ${this.path}`));
  }
}
