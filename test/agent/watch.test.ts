import { appendFile, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { watchPaths } from '../../src/agent/watch.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

const log = pino({ level: 'silent' });

let tmp: TempDir;
let stops: Array<() => Promise<void>> = [];
beforeEach(async () => {
  tmp = await createTempDir('watch');
});
afterEach(async () => {
  for (const stop of stops) await stop();
  stops = [];
  await tmp.remove();
});

/** Starts watching `paths`; returns the count of onChange calls so far. */
function watching(paths: string[], opts: { quietMs: number; pollMs: number }): () => number {
  let calls = 0;
  stops.push(watchPaths(() => paths, () => void calls++, log, opts));
  return () => calls;
}

describe('watchPaths', () => {
  it('a busy neighbour (a log file next to the manifest) reloads nothing; an edit of the manifest reloads once', async () => {
    const manifest = await tmp.write('tether.yaml', 'a: 1\n');
    const calls = watching([manifest], { quietMs: 100, pollMs: 60_000 });
    for (let i = 0; i < 100; i++) await appendFile(join(tmp.path, 'agent.log'), `line ${i}\n`);
    // Longer than the quiet period after the last append: a reload would have happened by now.
    await new Promise((r) => setTimeout(r, 400));
    expect(calls()).toBe(0);
    await writeFile(manifest, 'a: 2\n');
    await expect.poll(calls, { timeout: 10_000 }).toBe(1);
  });

  it('follows a directory that was replaced (watched again at the next poll)', async () => {
    const dir = join(tmp.path, 'conf');
    await mkdir(dir);
    const manifest = join(dir, 'tether.yaml');
    await writeFile(manifest, 'a: 1\n');
    const calls = watching([manifest], { quietMs: 50, pollMs: 200 });
    const fresh = join(tmp.path, 'conf.new');
    await mkdir(fresh);
    await writeFile(join(fresh, 'tether.yaml'), 'a: 2\n');
    await rename(dir, join(tmp.path, 'conf.old'));
    await rename(fresh, dir);
    await expect.poll(calls, { timeout: 10_000 }).toBe(1);
    // An edit in the new directory is seen too.
    await writeFile(manifest, 'a: 3\n');
    await expect.poll(calls, { timeout: 10_000 }).toBe(2);
  });

  it('a directory missing at start is followed once it exists', async () => {
    const dir = join(tmp.path, 'later');
    const manifest = join(dir, 'tether.yaml');
    const calls = watching([manifest], { quietMs: 50, pollMs: 200 });
    await mkdir(dir);
    await writeFile(manifest, 'a: 1\n');
    await expect.poll(calls, { timeout: 10_000 }).toBe(1);
  });
});
