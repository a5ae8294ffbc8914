import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';

/**
 * What this process last wrote to each destination: the bytes' digest and
 * the identity the file had just after the rename (device, inode, size,
 * mtime, ctime). A destination whose lstat still shows that identity holds
 * those bytes, so a render whose bytes differ from them can write without
 * reading the old file back first (the hot path of a change).
 *
 * Only ever used to skip a read when the bytes DIFFER: a render whose bytes
 * equal the last write still reads the file and compares (a hand edit that
 * kept the identity, within one timestamp tick, is then still undone). The
 * worst a stale memo can do is rewrite a file that already held the new
 * bytes, which the reads it saves made exceedingly rare (ctime cannot be set
 * from user space; an atomic save by an editor is a new inode).
 */

interface Written {
  digest: string;
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

/** By the resolved destination path (symlinks followed). Bounded by the number of files written. */
const written = new Map<string, Written>();

export function digestOf(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('base64');
}

/** Notes what `dest` holds after a write of bytes with `digest`, as `st` (its lstat after the rename) shows. */
export function remember(dest: string, digest: string, st: Stats): void {
  written.set(dest, { digest, dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs });
}

/** Drops what was noted for `dest` (its bytes are no longer known: an in-place write, a failure after the rename). */
export function forget(dest: string): void {
  written.delete(dest);
}

/**
 * True when `st` (the destination's lstat now) is the file this process last
 * wrote and its digest differs from `digest`: the bytes on disk are known to
 * differ from the new ones without reading them.
 */
export function knownToDiffer(dest: string, st: Stats, digest: string): boolean {
  const w = written.get(dest);
  if (w === undefined) return false;
  const same = w.dev === st.dev && w.ino === st.ino && w.size === st.size && w.mtimeMs === st.mtimeMs && w.ctimeMs === st.ctimeMs;
  if (!same) {
    written.delete(dest);
    return false;
  }
  return w.digest !== digest;
}
