import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../observability/logger.js';
import type { Ownership } from './write-ids.js';
import { chownStaged } from './write-owner.js';

/**
 * The temp file of an atomic write (write.ts) and the directory fsync after
 * its rename. Every step is an asynchronous call, run on libuv's threads:
 * see write.ts for why none may block the agent's event loop.
 */

/** The temp file, open until it is renamed (or fails). */
export interface Staged {
  path: string;
  file: FileHandle;
  /** Set once close was called: every close goes through closeStaged, once. */
  closed: Promise<void> | null;
  renamed: boolean;
}

/** Closes the staged file once. Its bytes were fsynced before anything depends on it, so a failing close changes nothing. */
export function closeStaged(s: Staged): Promise<void> {
  s.closed ??= s.file.close().catch(() => undefined);
  return s.closed;
}

/** createStaged, creating the parent directories when they are missing: no mkdir on every write (hot path). */
export async function stage(dest: string): Promise<Staged> {
  return createStaged(dest).catch(async (err: unknown) => {
    if (errnoOf(err) !== 'ENOENT') throw err;
    await mkdir(dirname(dest), { recursive: true });
    return createStaged(dest);
  });
}

/** `.name.tether-XXXXXX` next to `dest`, created exclusively with mode 0600 (no reader sees it half-written). */
async function createStaged(dest: string): Promise<Staged> {
  const prefix = `.${basename(dest).slice(0, 200)}.tether-`;
  for (let attempt = 0; ; attempt++) {
    const path = join(dirname(dest), prefix + randomBytes(6).toString('base64url').slice(0, 6));
    try {
      return { path, file: await open(path, 'wx', 0o600), closed: null, renamed: false };
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST' || attempt >= 5) throw err;
    }
  }
}

/**
 * A read-only handle on `dir` for its fsync, or null when it cannot be opened
 * (syncDirectory then says why). Never rejects: it is opened while the staged
 * file fills, so that after the rename its fsync is the one call left.
 */
export function openDirectory(dir: string): Promise<FileHandle | null> {
  return open(dir, constants.O_RDONLY).catch(() => null);
}

/** Closes a handle from openDirectory; nothing depends on the close. */
export async function closeDirectory(dir: Promise<FileHandle | null>): Promise<void> {
  await (await dir)?.close().catch(() => undefined);
}

/**
 * Writes, chowns (before chmod: chown may clear set-id bits), chmods, fsyncs;
 * the caller closes. Without an owner, the write and the chmod go together.
 * An owner that only keeps the replaced file's is kept as far as the process
 * may (write-owner.ts).
 */
export async function fill(file: FileHandle, bytes: Buffer, mode: number, owner: Ownership | null, dest: string, log: Logger | undefined): Promise<void> {
  if (owner === null) {
    await Promise.all([file.writeFile(bytes), file.chmod(mode)]);
  } else {
    await file.writeFile(bytes);
    await chownStaged(file, owner, dest, log);
    await file.chmod(mode);
  }
  await file.sync();
}

/**
 * Makes the rename durable, through `opened` (a handle on `dir`; the caller
 * closes it) or, when it could not be opened, a handle opened now (which
 * reports why). File systems that cannot fsync a directory say EINVAL; that
 * is not a failure.
 */
export async function syncDirectory(dir: string, opened: FileHandle | null): Promise<void> {
  const handle = opened ?? (await open(dir, constants.O_RDONLY));
  try {
    await handle.sync();
  } catch (err) {
    const code = errnoOf(err);
    if (code !== 'EINVAL' && code !== 'ENOTSUP') throw err;
  } finally {
    if (opened === null) await handle.close().catch(() => undefined);
  }
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
