import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fsync, openSync, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../observability/logger.js';
import type { Ownership } from './write-ids.js';
import { chownStaged } from './write-owner.js';

/**
 * The temp file of an atomic write (write.ts) and the directory fsync after
 * its rename. Every step but the fsyncs is a synchronous call: see write.ts.
 */

const fsyncFd = promisify(fsync);

/** The temp file, open until it is renamed (or fails). */
export interface Staged {
  path: string;
  fd: number;
  /** Set once closed: every close goes through closeStaged, once. */
  closed: boolean;
  renamed: boolean;
}

/** Closes the staged file once. Its bytes were fsynced before anything depends on it, so a failing close changes nothing. */
export function closeStaged(s: Staged): void {
  if (s.closed) return;
  s.closed = true;
  closeQuietly(s.fd);
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Nothing depends on it (see closeStaged).
  }
}

/** createStaged, creating the parent directories when they are missing: no mkdir on every write (hot path). */
export async function stage(dest: string): Promise<Staged> {
  try {
    return createStaged(dest);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
  await mkdir(dirname(dest), { recursive: true });
  return createStaged(dest);
}

/** `.name.tether-XXXXXX` next to `dest`, created exclusively with mode 0600 (no reader sees it half-written). */
function createStaged(dest: string): Staged {
  const prefix = `.${basename(dest).slice(0, 200)}.tether-`;
  for (let attempt = 0; ; attempt++) {
    const path = join(dirname(dest), prefix + randomBytes(6).toString('base64url').slice(0, 6));
    try {
      return { path, fd: openSync(path, 'wx', 0o600), closed: false, renamed: false };
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST' || attempt >= 5) throw err;
    }
  }
}

/** A read-only descriptor on `dir` for its fsync, or null when it cannot be opened (syncDirectory then says why). */
export function openDirectory(dir: string): number | null {
  try {
    return openSync(dir, constants.O_RDONLY);
  } catch {
    return null;
  }
}

/**
 * Writes, chowns (before chmod: chown may clear set-id bits), chmods, fsyncs;
 * the caller closes. An owner that only keeps the replaced file's is kept as
 * far as the process may (write-owner.ts).
 */
export async function fill(fd: number, bytes: Buffer, mode: number, owner: Ownership | null, dest: string, log: Logger | undefined): Promise<void> {
  for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset, bytes.length - offset);
  if (owner !== null) chownStaged(fd, owner, dest, log);
  fchmodSync(fd, mode);
  await fsyncFd(fd);
}

/**
 * Makes the rename durable, through `opened` (a handle on `dir`; the caller
 * closes it) or, when it could not be opened, a handle opened now (which
 * reports why). File systems that cannot fsync a directory say EINVAL; that
 * is not a failure.
 */
export async function syncDirectory(dir: string, opened: number | null): Promise<void> {
  const fd = opened ?? openSync(dir, constants.O_RDONLY);
  try {
    await fsyncFd(fd);
  } catch (err) {
    const code = errnoOf(err);
    if (code !== 'EINVAL' && code !== 'ENOTSUP') throw err;
  } finally {
    if (opened === null) closeQuietly(fd);
  }
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
