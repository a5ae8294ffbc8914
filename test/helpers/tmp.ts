import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh directory under the OS temp dir; `remove()` deletes it and everything in it. */
export interface TempDir {
  path: string;
  /** Writes `text` to `name` inside the directory; returns the file's path. */
  write(name: string, text: string): Promise<string>;
  remove(): Promise<void>;
}

/** Creates a temp directory named `tether-<prefix>-XXXXXX`. */
export async function createTempDir(prefix = 'test'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), `tether-${prefix}-`));
  return {
    path,
    write: async (name, text) => {
      const file = join(path, name);
      await writeFile(file, text);
      return file;
    },
    remove: () => rm(path, { recursive: true, force: true }),
  };
}
