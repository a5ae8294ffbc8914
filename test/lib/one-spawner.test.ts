import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * One spawner (issue 14 item 4): every process tether starts goes through
 * src/lib/process-spawn.ts, which lists its pid while libuv waits for it. A
 * second spawn elsewhere would be a pid the orphan reaper does not know, so
 * as PID 1 it could take that process's exit status (see process-reaper.ts).
 */

const root = resolve(import.meta.dirname, '..', '..');

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sourceFiles(path)));
    else if (/\.(ts|mts|js|mjs|cjs)$/.test(e.name)) out.push(path);
  }
  return out;
}

describe('one spawner', () => {
  it('child_process is used in src/ by src/lib/process-spawn.ts alone', async () => {
    const users: string[] = [];
    for (const file of await sourceFiles(join(root, 'src'))) {
      // Any form: import, import type, require, dynamic import, with or without the node: prefix.
      if (/['"](node:)?child_process['"]/.test(await readFile(file, 'utf8'))) users.push(relative(root, file));
    }
    const runtime: string[] = [];
    for (const file of users) {
      const text = await readFile(join(root, file), 'utf8');
      // `import type` brings no code: only the ChildProcess type, for the runner's own fields.
      const withoutTypes = text.replace(/^import type [^;]*['"](node:)?child_process['"];$/gm, '');
      if (/['"](node:)?child_process['"]/.test(withoutTypes)) runtime.push(file);
    }
    expect(users.every((f) => f.startsWith('src/lib/'))).toBe(true);
    expect(runtime).toEqual(['src/lib/process-spawn.ts']);
  });
});
