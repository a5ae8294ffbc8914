import { open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeAtomically } from '../../src/materialize/write.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * writeAtomically skips reading the old bytes back when the destination is
 * still the file it last wrote and the new bytes differ (write-memo.ts).
 * These are the cases where the file changed behind its back.
 */

let tmp: TempDir;
beforeEach(async () => {
  tmp = await createTempDir('write-memo');
});
afterEach(async () => {
  await tmp.remove();
});

/** Overwrites `path` in place: the same inode, as `echo x > file` does. */
async function editInPlace(path: string, text: string): Promise<void> {
  const file = await open(path, 'r+');
  try {
    await file.truncate(0);
    await file.write(text, 0);
  } finally {
    await file.close();
  }
}

/** More than one tick of the file system's coarse timestamps, so an edit shows in mtime and ctime. */
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 30));

describe('writeAtomically after its own last write', () => {
  it('a file edited by hand between two changes is still rewritten when the value changes', async () => {
    const dest = join(tmp.path, 'app.conf');
    expect((await writeAtomically(dest, 'value-1\n')).method).toBe('rename');
    await editInPlace(dest, 'by hand\n');
    expect(await writeAtomically(dest, 'value-2\n')).toEqual({ changed: true, method: 'rename' });
    expect(await readFile(dest, 'utf8')).toBe('value-2\n');
  });

  it('a hand edit is undone when the render gives the last written bytes again', async () => {
    const dest = join(tmp.path, 'app.conf');
    await writeAtomically(dest, 'value-1\n');
    await editInPlace(dest, 'by hand, longer\n');
    expect(await writeAtomically(dest, 'value-1\n')).toEqual({ changed: true, method: 'rename' });
    expect(await readFile(dest, 'utf8')).toBe('value-1\n');
    expect((await writeAtomically(dest, 'value-1\n')).method).toBe('unchanged');
  });

  it('a file another writer replaced with the new bytes is left alone (its inode stays)', async () => {
    const dest = join(tmp.path, 'app.conf');
    await writeAtomically(dest, 'value-1\n');
    const other = join(tmp.path, 'other.tmp');
    await writeFile(other, 'value-2\n');
    await rename(other, dest);
    const theirs = (await stat(dest)).ino;
    expect(await writeAtomically(dest, 'value-2\n')).toEqual({ changed: false, method: 'unchanged' });
    expect((await stat(dest)).ino).toBe(theirs);
  });

  it('an in-place edit to the new bytes, same size and inode, is seen by its timestamps', async () => {
    const dest = join(tmp.path, 'app.conf');
    await writeAtomically(dest, 'value-1\n');
    const ours = await stat(dest);
    await tick();
    await editInPlace(dest, 'value-2\n');
    const edited = await stat(dest);
    expect(edited.ino).toBe(ours.ino);
    expect(edited.size).toBe(ours.size);
    expect(await writeAtomically(dest, 'value-2\n')).toEqual({ changed: false, method: 'unchanged' });
    expect((await stat(dest)).ino).toBe(ours.ino);
  });

  it('a change after a change writes each value, whatever the order of same-size values', async () => {
    const dest = join(tmp.path, 'app.conf');
    for (const v of ['a-1\n', 'a-2\n', 'a-1\n', 'a-1\n', 'a-3\n']) {
      await writeAtomically(dest, v);
      expect(await readFile(dest, 'utf8')).toBe(v);
    }
  });
});
