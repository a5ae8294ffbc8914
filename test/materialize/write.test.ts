import { readFileSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TetherError } from '../../src/lib/errors.js';
import { writeAtomically, type FsOps } from '../../src/materialize/write.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

const isRoot = process.getuid?.() === 0;

let tmp: TempDir;
beforeEach(async () => {
  tmp = await createTempDir('write');
});
afterEach(async () => {
  await chmod(tmp.path, 0o755).catch(() => undefined);
  await tmp.remove();
});

/** Every temp file left anywhere under `dir` (there must never be one). */
async function leftovers(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.filter((name) => /\.tether-/.test(name));
}

/** Rejects with a TetherError; returns it for further checks. */
async function failure(promise: Promise<unknown>): Promise<TetherError> {
  const err = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TetherError);
  return err as TetherError;
}

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated, rename`), { code });
}

/** A logger whose lines land in `lines` (parsed). */
function captureLog(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

describe('writeAtomically: bytes compared first', () => {
  it('creates parent directories and the file with 0644 & ~umask by default', async () => {
    const dest = join(tmp.path, 'a', 'b', 'app.conf');
    const result = await writeAtomically(dest, 'listen 80;\n');
    expect(result).toEqual({ changed: true, method: 'rename' });
    expect(await readFile(dest, 'utf8')).toBe('listen 80;\n');
    expect((await stat(dest)).mode & 0o777).toBe(0o644 & ~process.umask());
    expect(await leftovers(tmp.path)).toEqual([]);
  });

  it('does not touch a file whose bytes are already there (mtime and inode unchanged)', async () => {
    const dest = join(tmp.path, 'app.conf');
    await writeAtomically(dest, 'same\n');
    const before = await stat(dest);
    await new Promise((r) => setTimeout(r, 20)); // let a rewrite show in mtime
    const result = await writeAtomically(dest, 'same\n', { mode: 0o600, check: ['false'] });
    expect(result).toEqual({ changed: false, method: 'unchanged' });
    const after = await stat(dest);
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    // The bytes stay, the manifest's mode is applied (consul-template does the same); the check does not run.
    expect(after.mode & 0o777).toBe(0o600);
  });

  it('applies mode and owner to unchanged bytes, and leaves them alone when not given', async () => {
    const dest = join(tmp.path, 'attrs.conf');
    await writeAtomically(dest, 'x\n', { mode: 0o640 });
    await chmod(dest, 0o666);
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    expect(await writeAtomically(dest, 'x\n', { mode: 0o640, owner: uid, group: gid })).toEqual({ changed: false, method: 'unchanged' });
    expect((await stat(dest)).mode & 0o777).toBe(0o640);
    await chmod(dest, 0o604);
    await writeAtomically(dest, 'x\n');
    expect((await stat(dest)).mode & 0o777).toBe(0o604);
  });

  it('writes an empty file when none exists (absent is not equal to empty)', async () => {
    const dest = join(tmp.path, 'empty');
    expect((await writeAtomically(dest, '')).changed).toBe(true);
    expect(await readFile(dest, 'utf8')).toBe('');
    expect((await writeAtomically(dest, '')).method).toBe('unchanged');
  });

  it('replaces changed bytes by rename (new inode), with the mode given', async () => {
    const dest = join(tmp.path, 'app.conf');
    await writeFile(dest, 'old\n');
    const before = await stat(dest);
    const result = await writeAtomically(dest, 'new\n', { mode: 0o640 });
    expect(result).toEqual({ changed: true, method: 'rename' });
    const after = await stat(dest);
    expect(after.ino).not.toBe(before.ino);
    expect(after.mode & 0o7777).toBe(0o640);
    expect(await readFile(dest, 'utf8')).toBe('new\n');
    expect(await leftovers(tmp.path)).toEqual([]);
  });

  it("keeps the existing file's mode when none is given", async () => {
    const dest = join(tmp.path, 'secret.env');
    await writeFile(dest, 'A=1\n', { mode: 0o600 });
    await chmod(dest, 0o600);
    await writeAtomically(dest, 'A=2\n');
    expect((await stat(dest)).mode & 0o7777).toBe(0o600);
  });
});

describe('writeAtomically: symlinked destinations', () => {
  it('writes through a Kubernetes ..data style link: the link stays a link', async () => {
    const real = join(tmp.path, '..2024_01_01');
    await mkdir(real);
    await writeFile(join(real, 'app.conf'), 'old\n');
    await symlink('..2024_01_01', join(tmp.path, '..data'));
    const dest = join(tmp.path, 'app.conf');
    await symlink('..data/app.conf', dest);

    expect(await writeAtomically(dest, 'new\n')).toEqual({ changed: true, method: 'rename' });
    expect((await lstat(dest)).isSymbolicLink()).toBe(true);
    expect(await readlink(dest)).toBe('..data/app.conf');
    expect((await lstat(join(tmp.path, '..data'))).isSymbolicLink()).toBe(true);
    expect(await readFile(join(real, 'app.conf'), 'utf8')).toBe('new\n');
    expect(await leftovers(tmp.path)).toEqual([]);
    expect((await writeAtomically(dest, 'new\n')).method).toBe('unchanged');
  });

  it('creates the target of a dangling link', async () => {
    const dest = join(tmp.path, 'link');
    await symlink('targets/real.conf', dest);
    await writeAtomically(dest, 'x\n');
    expect((await lstat(dest)).isSymbolicLink()).toBe(true);
    expect(await readFile(join(tmp.path, 'targets', 'real.conf'), 'utf8')).toBe('x\n');
  });
});

describe('writeAtomically: the check command', () => {
  it('sees the staged file, next to the destination, through TETHER_STAGED_PATH', async () => {
    const dest = join(tmp.path, 'app.conf');
    await writeFile(dest, 'old\n');
    const seen = join(tmp.path, 'seen');
    const copy = join(tmp.path, 'copy');
    const check = ['sh', '-c', 'printf %s "$TETHER_STAGED_PATH" > "$1" && cp "$TETHER_STAGED_PATH" "$2"', 'sh', seen, copy];
    await writeAtomically(dest, 'new content\n', { check });
    const staged = await readFile(seen, 'utf8');
    expect(staged.startsWith(join(tmp.path, '.app.conf.tether-'))).toBe(true);
    expect(await readFile(copy, 'utf8')).toBe('new content\n');
    expect(await readFile(dest, 'utf8')).toBe('new content\n');
    expect(await leftovers(tmp.path)).toEqual([]);
  });

  it('a failing check keeps the old file byte-identical, removes the staged file, and reports status and output', async () => {
    const dest = join(tmp.path, 'app.conf');
    await writeFile(dest, 'old bytes\n');
    const before = await stat(dest);
    const check = ['sh', '-c', 'echo "line 3: unknown directive" >&2; exit 3'];
    const err = await failure(writeAtomically(dest, 'SECRET-CONTENT\n', { check }));
    expect(err.code).toBe('write.check_failed');
    expect(err.message).toContain('exit status 3');
    expect(err.message).toContain('unknown directive');
    expect(err.message).not.toContain('SECRET-CONTENT');
    expect(await readFile(dest, 'utf8')).toBe('old bytes\n');
    expect((await stat(dest)).ino).toBe(before.ino);
    expect(await leftovers(tmp.path)).toEqual([]);
  });

  it('a check that cannot start fails the write', async () => {
    const dest = join(tmp.path, 'app.conf');
    const err = await failure(writeAtomically(dest, 'x', { check: ['/nonexistent/validate'] }));
    expect(err.code).toBe('write.check_failed');
    expect(err.message).toContain('executable not found');
    await expect(stat(dest)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await leftovers(tmp.path)).toEqual([]);
  });

  it('a hanging check is killed at its timeout, with the processes it started', async () => {
    const dest = join(tmp.path, 'app.conf');
    await writeFile(dest, 'old\n');
    const pidFile = join(tmp.path, 'grandchild.pid');
    const check = ['sh', '-c', 'sleep 60 & echo $! > "$1"; wait', 'sh', pidFile];
    const started = Date.now();
    const err = await failure(writeAtomically(dest, 'new\n', { check, checkTimeoutMs: 300 }));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(err.code).toBe('write.check_failed');
    expect(err.message).toContain('timed out after 300ms');
    expect(await readFile(dest, 'utf8')).toBe('old\n');
    expect(await leftovers(tmp.path)).toEqual([]);
    const pid = Number(await readFile(pidFile, 'utf8'));
    await expect.poll(() => isLive(pid), { timeout: 5000 }).toBe(false);
  });

  it('an abort kills the check and rejects with the reason, keeping the old file', async () => {
    const dest = join(tmp.path, 'app.conf');
    await writeFile(dest, 'old\n');
    const controller = new AbortController();
    const reason = new Error('shutting down');
    setTimeout(() => controller.abort(reason), 100);
    await expect(writeAtomically(dest, 'new\n', { check: ['sleep', '60'], signal: controller.signal })).rejects.toBe(reason);
    expect(await readFile(dest, 'utf8')).toBe('old\n');
    expect(await leftovers(tmp.path)).toEqual([]);
  });
});

/** True while `pid` runs (a zombie, reaped by nobody in a container, counts as gone). */
function isLive(pid: number): boolean {
  try {
    return !/\)\s+Z\s/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('writeAtomically: failures keep everything as it was', () => {
  it('a destination under a file fails with ENOTDIR', async () => {
    await writeFile(join(tmp.path, 'plain'), 'x');
    const err = await failure(writeAtomically(join(tmp.path, 'plain', 'app.conf'), 'new\n'));
    expect(err.code).toBe('write.failed');
    expect(err.message).toContain('ENOTDIR');
    expect(await readFile(join(tmp.path, 'plain'), 'utf8')).toBe('x');
    expect(await leftovers(tmp.path)).toEqual([]);
  });

  it('a destination that is a directory fails with EISDIR and is left alone', async () => {
    const dest = join(tmp.path, 'conf.d');
    await mkdir(dest);
    await writeFile(join(dest, 'inner'), 'keep');
    const err = await failure(writeAtomically(dest, 'new\n'));
    expect(err.code).toBe('write.failed');
    expect(err.message).toContain('EISDIR');
    expect(await readdir(dest)).toEqual(['inner']);
    expect(await leftovers(tmp.path)).toEqual([]);
  });

  it('a rename failing for another reason removes the staged file and keeps the old one', async () => {
    const dest = join(tmp.path, 'app.conf');
    await writeFile(dest, 'old\n');
    const fsOps: FsOps = { rename: () => Promise.reject(errno('EACCES')) };
    const err = await failure(writeAtomically(dest, 'new\n', { fsOps }));
    expect(err.code).toBe('write.failed');
    expect(err.message).toContain('EACCES');
    expect(await readFile(dest, 'utf8')).toBe('old\n');
    expect(await leftovers(tmp.path)).toEqual([]);
  });

  // Registered only where it can run (root ignores modes); CI runs no skipped tests.
  if (!isRoot) it('a read-only directory fails with EACCES (not as root: root ignores the mode)', async () => {
    const dest = join(tmp.path, 'app.conf');
    await writeFile(dest, 'old\n');
    await chmod(tmp.path, 0o555);
    const err = await failure(writeAtomically(dest, 'new\n'));
    expect(err.code).toBe('write.failed');
    expect(err.message).toContain('EACCES');
    expect(await readFile(dest, 'utf8')).toBe('old\n');
  });

  it('an unknown owner name fails before anything is written', async () => {
    const dest = join(tmp.path, 'app.conf');
    const err = await failure(writeAtomically(dest, 'x', { owner: 'no-such-user-tether' }));
    expect(err.code).toBe('write.failed');
    expect(err.message).toContain('no-such-user-tether');
    expect(await readdir(tmp.path)).toEqual([]);
  });
});

describe('writeAtomically: in-place fallback where rename cannot work', () => {
  for (const code of ['EXDEV', 'EBUSY']) {
    it(`on ${code}, overwrites the same inode, truncates to the new length, warns once per path`, async () => {
      const dest = join(tmp.path, 'mounted.conf');
      await writeFile(dest, 'a much longer old content\n');
      const before = await stat(dest);
      const fsOps: FsOps = { rename: () => Promise.reject(errno(code)) };
      const { log, lines } = captureLog();

      expect(await writeAtomically(dest, 'short\n', { fsOps, log, mode: 0o640 })).toEqual({ changed: true, method: 'in-place' });
      const after = await stat(dest);
      expect(after.ino).toBe(before.ino);
      expect(after.mode & 0o7777).toBe(0o640);
      expect(await readFile(dest, 'utf8')).toBe('short\n');
      expect(await leftovers(tmp.path)).toEqual([]);

      await writeAtomically(dest, 'short again\n', { fsOps, log });
      expect(await readFile(dest, 'utf8')).toBe('short again\n');
      const warnings = lines.filter((l) => l.level === 40);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ path: dest, code });
    });
  }
});

if (isRoot) describe('writeAtomically: owner and group (as root)', () => {
  it('chowns by number', async () => {
    const dest = join(tmp.path, 'by-number');
    await writeAtomically(dest, 'x', { owner: 65534, group: 65534 });
    expect(await stat(dest)).toMatchObject({ uid: 65534, gid: 65534 });
    await writeAtomically(dest, 'y', { owner: 0, group: 0 });
    expect(await stat(dest)).toMatchObject({ uid: 0, gid: 0 });
  });

  it('chowns by name (resolved from /etc/passwd and /etc/group)', async () => {
    const dest = join(tmp.path, 'by-name');
    await writeAtomically(dest, 'x', { owner: 'nobody', group: 'root', mode: 0o640 });
    expect(await stat(dest)).toMatchObject({ uid: 65534, gid: 0 });
    expect((await stat(dest)).mode & 0o7777).toBe(0o640);
    await writeAtomically(dest, 'y', { owner: 'root' });
    expect(await stat(dest)).toMatchObject({ uid: 0, gid: 0 });
  });

  it('leaves ownership alone when none is given', async () => {
    const dest = join(tmp.path, 'default');
    await writeAtomically(dest, 'x');
    expect(await stat(dest)).toMatchObject({ uid: process.getuid?.(), gid: process.getgid?.() });
  });

  it('a replaced file keeps its owner, group and mode when the manifest gives none (as consul-template and confd)', async () => {
    const dest = join(tmp.path, 'kept');
    await writeFile(dest, 'old');
    await chown(dest, 65534, 65534);
    await chmod(dest, 0o640);
    expect(await writeAtomically(dest, 'new')).toEqual({ changed: true, method: 'rename' });
    expect(await readFile(dest, 'utf8')).toBe('new');
    const st = await stat(dest);
    expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 }).toEqual({ uid: 65534, gid: 65534, mode: 0o640 });
  });

  it('keeps the owner also on the path that skips reading the old file, and keeps the half not given', async () => {
    const dest = join(tmp.path, 'half');
    // Written by us with an owner: the next write knows the bytes differ without reading them (write-memo.ts).
    await writeAtomically(dest, 'x', { owner: 65534, group: 65534 });
    await writeAtomically(dest, 'y');
    expect(await stat(dest)).toMatchObject({ uid: 65534, gid: 65534 });
    await writeAtomically(dest, 'z', { owner: 0 });
    expect(await stat(dest)).toMatchObject({ uid: 0, gid: 65534 });
    expect(await readFile(dest, 'utf8')).toBe('z');
  });
});
