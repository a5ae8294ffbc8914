import { constants } from 'node:fs';
import type { Stats } from 'node:fs';
import { chmod, chown, lstat, open, readdir, readlink, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { TetherError } from '../lib/errors.js';
import type { Logger } from '../observability/logger.js';
import { runCheck } from './write-check.js';
import { ownership, resolveIds, type Ids } from './write-ids.js';
import { closeDirectory, closeStaged, fill, openDirectory, stage, syncDirectory, type Staged } from './write-staged.js';
import { digestOf, forget, knownToDiffer, remember } from './write-memo.js';

/**
 * What applications feel: a destination file is never empty, partial or
 * corrupt, whatever fails. Steps (STYLE habit 9): compare bytes, stage a temp
 * file next to the destination, fsync, set mode/owner, run the check, rename,
 * fsync the directory. The old bytes are not read back when the destination
 * is still the file this process last wrote and the new bytes differ from
 * those (write-memo.ts): a change then costs what the write itself costs. Where rename cannot work (a bind-mounted single file, a
 * Kubernetes subPath: EBUSY or EXDEV) the bytes are written in place instead,
 * which is not atomic, and a warning says so once per path.
 *
 * Every file-system call is asynchronous (libuv's threads), none synchronous:
 * the agent's heartbeats and session keep-alives go out from its one event
 * loop, and an open, rename or lstat can wait for seconds (a hung NFS server,
 * a FUSE daemon, a journal shared with other processes' fsyncs). A stall then
 * delays this file only, never the heartbeats: otherwise every service of the
 * agent would expire because one output file's disk was slow. Synchronous
 * steps saved 0.6–0.9 ms of agent CPU per change (R11 #2, bench/README.md);
 * test/materialize/write-stall.test.ts holds the loop to this.
 */

export interface WriteResult {
  changed: boolean;
  method: 'unchanged' | 'rename' | 'in-place';
}

/** The one file-system call tests replace (to simulate EXDEV/EBUSY); a seam we own. */
export interface FsOps {
  rename(from: string, to: string): Promise<void>;
}

export interface WriteOptions {
  /** Mode of the new file; default: the existing file's mode, else 0644 & ~umask. */
  mode?: number | null;
  /**
   * User/group names (looked up in /etc/passwd, /etc/group) or ids. A half not given keeps the replaced
   * file's (a new file: the process's); keeping it where the process may not (not root) only warns.
   */
  owner?: string | number | null;
  group?: string | number | null;
  /** argv run (no shell) on the staged file, named by TETHER_STAGED_PATH; non-zero keeps the old file. */
  check?: string[] | null;
  /** Default 30 s; at the timeout the check's whole process group is killed. */
  checkTimeoutMs?: number;
  /** The content holds secret values: a failed check's output (which may quote the file) is not put in the error. */
  holdsSecrets?: boolean;
  log?: Logger;
  /** Abort: the check is killed, the staged file removed, and the call rejects with `signal.reason`. */
  signal?: AbortSignal;
  fsOps?: FsOps;
  /**
   * Called once the new bytes are what readers of `path` see (after the rename,
   * before the directory's fsync makes it durable; after an in-place write).
   * Not called when nothing was written.
   */
  onVisible?: () => void;
}

const DEFAULT_CHECK_TIMEOUT_MS = 30_000;
const UNCHANGED: WriteResult = Object.freeze({ changed: false, method: 'unchanged' });
const defaultFsOps: FsOps = { rename };
/** Paths already warned about: an in-place write is said once, not on every change. */
const warnedInPlace = new Set<string>();

/**
 * Makes `path` hold exactly `content` (UTF-8). Returns `unchanged` when the
 * bytes are already there, after applying a given mode or owner that
 * differs (the bytes are not rewritten); `rename` after an atomic swap; `in-place` after the fallback.
 * A symlinked destination is written through: the link stays, its final
 * target is replaced. `path` must come from the manifest, never from a value.
 *
 * Throws TetherError `write.check_failed` when the check fails (exit status and
 * an output tail, never the content) and `write.failed` (errno code in the
 * message) for any other failure; either way the destination is untouched and
 * no temp file remains. On abort, rejects with `signal.reason`, same guarantees.
 */
export async function writeAtomically(path: string, content: string, opts: WriteOptions = {}): Promise<WriteResult> {
  const bytes = Buffer.from(content, 'utf8');
  let staged: Staged | null = null;
  let dir: Promise<FileHandle | null> | null = null;
  try {
    opts.signal?.throwIfAborted();
    const { dest, st } = await locate(path);
    const digest = digestOf(bytes);
    const current = st !== null && knownToDiffer(dest, st, digest) ? attributesOf(dest, st) : await readCurrent(dest);
    if (current !== null && current.bytes?.equals(bytes) === true) {
      // Same bytes, but someone chmod-ed or chown-ed the file: the manifest's mode and owner still hold (as consul-template does).
      await restoreAttributes(dest, current, opts);
      return UNCHANGED;
    }
    const ids = await resolveIds(opts.owner ?? null, opts.group ?? null);
    const owner = ownership(ids, current);
    // Parent directories are created only when missing: no mkdir on every write (hot path).
    staged = await stage(dest);
    // Opened while the file fills, so that after the rename its fsync is the one call left.
    dir = openDirectory(dirname(dest));
    await fill(staged.file, bytes, opts.mode ?? current?.mode ?? (0o644 & ~process.umask()), owner, dest, opts.log);
    if (opts.check) {
      // Closed first: a check may execute the staged file (ETXTBSY while it is open for writing).
      await closeStaged(staged);
      await runCheck(opts.check, staged.path, path, opts.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS, opts.signal, opts.holdsSecrets);
    }
    opts.signal?.throwIfAborted();
    const method = await replace(staged, dest, bytes, opts, ids, digest, dir);
    if (method === 'rename') staged.renamed = true; // renamed away: nothing to clean up
    return { changed: true, method };
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw writeFailed(path, err);
  } finally {
    if (staged !== null) await closeStaged(staged);
    // The cleanup of a staged file that was not renamed (failure, check, in-place).
    if (staged !== null && !staged.renamed) await unlink(staged.path).catch(() => undefined);
    if (dir !== null) await closeDirectory(dir);
  }
}

/**
 * Follows a chain of symlinks (Kubernetes `file -> ..data/file`, `..data ->
 * ..2024_01_01`) to the path to replace. Done by hand rather than realpath so
 * a dangling link still names where to write. A missing path is itself.
 */
async function resolveDestination(path: string): Promise<string> {
  return (await locate(path)).dest;
}

/** resolveDestination, with the lstat of the path it found (null when it does not exist). */
async function locate(path: string): Promise<{ dest: string; st: Stats | null }> {
  let current = resolve(path);
  for (let hops = 0; hops < 40; hops++) {
    let st: Stats;
    try {
      st = await lstat(current);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return { dest: current, st: null };
      throw err;
    }
    if (!st.isSymbolicLink()) return { dest: current, st };
    current = resolve(dirname(current), await readlink(current));
  }
  throw Object.assign(new Error(`ELOOP: too many symbolic links, ${path}`), { code: 'ELOOP' });
}

interface Current {
  /** null when not read: known to differ from the new bytes (write-memo.ts). */
  bytes: Buffer | null;
  mode: number;
  uid: number;
  gid: number;
}

/** Applies the given mode and owner to an existing destination where they differ (chown first: it may clear set-id bits). */
async function restoreAttributes(dest: string, current: Current, opts: WriteOptions): Promise<void> {
  const ids = await resolveIds(opts.owner ?? null, opts.group ?? null);
  if (ids !== null && ((ids.uid !== -1 && ids.uid !== current.uid) || (ids.gid !== -1 && ids.gid !== current.gid))) {
    await chown(dest, ids.uid, ids.gid);
    current.mode = (await stat(dest)).mode & 0o7777;
  }
  if (opts.mode !== undefined && opts.mode !== null && opts.mode !== current.mode) await chmod(dest, opts.mode);
}

/** The destination's mode and owner from its lstat, without its bytes. */
function attributesOf(dest: string, st: Stats): Current {
  if (!st.isFile()) throw Object.assign(new Error(`EINVAL: destination is not a regular file, ${dest}`), { code: 'EINVAL' });
  return { bytes: null, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

/** The destination's bytes, mode and owner, or null when absent. Never blocks on a FIFO. */
async function readCurrent(dest: string): Promise<Current | null> {
  let file: FileHandle;
  try {
    file = await open(dest, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return null;
    throw err;
  }
  try {
    const st = await file.stat();
    if (st.isDirectory()) throw Object.assign(new Error(`EISDIR: destination is a directory, ${dest}`), { code: 'EISDIR' });
    if (!st.isFile()) throw Object.assign(new Error(`EINVAL: destination is not a regular file, ${dest}`), { code: 'EINVAL' });
    return { bytes: await file.readFile(), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  } finally {
    await file.close();
  }
}

/**
 * Removes the temp files an earlier run left next to `path` (killed between
 * staging and rename): `.NAME.tether-XXXXXX`, exactly six base64url
 * characters, our naming only. Call before this process writes `path`.
 * Returns the paths removed; a directory that does not exist has none.
 */
export async function removeStaleTemps(path: string): Promise<string[]> {
  let dest: string;
  try {
    dest = await resolveDestination(path);
  } catch {
    return [];
  }
  const name = basename(dest).slice(0, 200);
  const pattern = new RegExp(`^\\.${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.tether-[A-Za-z0-9_-]{6}$`);
  let entries: string[];
  try {
    entries = await readdir(dirname(dest));
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const e of entries) {
    if (!pattern.test(e)) continue;
    const p = join(dirname(dest), e);
    await unlink(p).then(
      () => removed.push(p),
      () => undefined,
    );
  }
  return removed;
}

/**
 * Renames the staged file (fsynced) over `dest` while it is closed, or writes
 * in place where rename cannot work. After a rename, fsyncs the directory
 * (`dir`, opened earlier) and notes the new file's identity (write-memo.ts)
 * meanwhile.
 */
async function replace(
  staged: Staged,
  dest: string,
  bytes: Buffer,
  opts: WriteOptions,
  ids: Ids | null,
  digest: string,
  dir: Promise<FileHandle | null>,
): Promise<WriteResult['method']> {
  try {
    await Promise.all([(opts.fsOps ?? defaultFsOps).rename(staged.path, dest), closeStaged(staged)]);
  } catch (err) {
    const code = errnoOf(err);
    if (code !== 'EXDEV' && code !== 'EBUSY') throw err;
    if (!warnedInPlace.has(dest)) {
      warnedInPlace.add(dest);
      opts.log?.warn({ path: dest, code }, 'cannot rename over the destination (bind mount?); writing in place, readers may see a partial file');
    }
    forget(dest);
    await writeInPlace(dest, bytes, opts.mode ?? null, ids);
    opts.onVisible?.();
    return 'in-place';
  }
  opts.onVisible?.();
  // The lstat of what was just renamed into place; when it cannot be had, the memo forgets the path.
  const [, after] = await Promise.all([syncDirectory(dirname(dest), await dir), lstat(dest).catch(() => null)]);
  if (after !== null) remember(dest, digest, after);
  else forget(dest);
  return 'rename';
}

/**
 * The fallback: the same inode, overwritten from the start, then cut to the
 * new length (no O_TRUNC, so there is never a moment with an empty file).
 * Mode and owner change only when given: the mount decides the rest.
 */
async function writeInPlace(dest: string, bytes: Buffer, mode: number | null, ids: Ids | null): Promise<void> {
  const file = await open(dest, constants.O_RDWR | constants.O_CREAT, mode ?? 0o644);
  try {
    for (let offset = 0; offset < bytes.length; ) {
      const { bytesWritten } = await file.write(bytes, offset, bytes.length - offset, offset);
      offset += bytesWritten;
    }
    await file.truncate(bytes.length);
    if (ids !== null) await file.chown(ids.uid, ids.gid);
    if (mode !== null) await file.chmod(mode);
    await file.sync();
  } finally {
    await file.close();
  }
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** TetherErrors pass through; anything else becomes `write.failed` naming the errno code. */
function writeFailed(path: string, err: unknown): TetherError {
  if (err instanceof TetherError) return err;
  const code = errnoOf(err);
  const message = err instanceof Error ? err.message : String(err);
  const text = code !== undefined && !message.startsWith(code) ? `${code}: ${message}` : message;
  return new TetherError('write.failed', `cannot write ${path}: ${text}`, { cause: err });
}
