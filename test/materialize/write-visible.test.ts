import { readFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeAtomically, type FsOps } from '../../src/materialize/write.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * writeAtomically's onVisible: the agent's feed re-arms when the new bytes
 * are what readers see (issue 20 item 3), not after the directory's fsync.
 * It must never fire before the bytes are in place, nor when nothing was written.
 */

let tmp: TempDir;
beforeEach(async () => {
  tmp = await createTempDir('write-visible');
});
afterEach(async () => {
  await tmp.remove();
});

const read = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

describe('writeAtomically: onVisible', () => {
  it('fires once, after the rename, with the new bytes in place, before the write resolves', async () => {
    const dest = join(tmp.path, 'out', 'file');
    for (const value of ['one\n', 'two\n', 'three\n']) {
      const steps: string[] = [];
      const fsOps: FsOps = {
        rename: async (from, to) => {
          await rename(from, to);
          steps.push('renamed');
        },
      };
      const writing = writeAtomically(dest, value, { fsOps, onVisible: () => steps.push(`visible:${read(dest)}`) }).then((r) => {
        steps.push('resolved');
        return r;
      });
      expect(await writing).toEqual({ changed: true, method: 'rename' });
      expect(steps).toEqual(['renamed', `visible:${value}`, 'resolved']);
    }
  });

  it('does not fire when the bytes are already there, nor when the check keeps the old file', async () => {
    const dest = join(tmp.path, 'file');
    await writeAtomically(dest, 'same\n');
    let fired = 0;
    expect(await writeAtomically(dest, 'same\n', { onVisible: () => fired++ })).toEqual({ changed: false, method: 'unchanged' });
    await expect(writeAtomically(dest, 'new\n', { check: ['/bin/false'], onVisible: () => fired++ })).rejects.toThrow();
    expect(read(dest)).toBe('same\n');
    expect(fired).toBe(0);
  });

  it('fires after an in-place write (rename refused), with the new bytes in place', async () => {
    const dest = join(tmp.path, 'file');
    await writeAtomically(dest, 'a longer old value\n');
    const fsOps: FsOps = { rename: () => Promise.reject(Object.assign(new Error('EXDEV: simulated, rename'), { code: 'EXDEV' })) };
    const seen: Array<string | null> = [];
    expect(await writeAtomically(dest, 'short\n', { fsOps, onVisible: () => seen.push(read(dest)) })).toEqual({ changed: true, method: 'in-place' });
    expect(seen).toEqual(['short\n']);
  });
});
