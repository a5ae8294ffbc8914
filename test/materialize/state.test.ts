import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MarkerFile } from '../../src/materialize/state.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

let tmp: TempDir;
beforeEach(async () => {
  tmp = await createTempDir('marker');
});
afterEach(async () => {
  await tmp.remove();
});

const saved = async (dir: string): Promise<unknown> => {
  try {
    return JSON.parse(await readFile(join(dir, 'events-marker.json'), 'utf8')) as unknown;
  } catch {
    return null;
  }
};

describe('MarkerFile', () => {
  it('coalesces a burst of saves into one write of the last marker, after its delay', async () => {
    const dir = join(tmp.path, 'state');
    const m = new MarkerFile(dir, 50);
    const errors: unknown[] = [];
    for (const id of ['a', 'b', 'c']) m.saveSoon(id, (e) => errors.push(e));
    expect(await saved(dir)).toBeNull();
    await expect.poll(() => saved(dir), { timeout: 10_000 }).toEqual({ marker: 'c' });
    expect(await new MarkerFile(dir).read()).toBe('c');
    expect(errors).toEqual([]);
  });

  it('flush writes the pending marker now (a stop), and does nothing without one', async () => {
    const dir = join(tmp.path, 'state');
    const m = new MarkerFile(dir, 60_000);
    await m.flush();
    expect(await saved(dir)).toBeNull();
    m.saveSoon('m-1', () => undefined);
    await m.flush();
    expect(await saved(dir)).toEqual({ marker: 'm-1' });
  });

  it('makes its directory again when it was removed after a save', async () => {
    const dir = join(tmp.path, 'state');
    const m = new MarkerFile(dir, 60_000);
    await m.save('one');
    await rm(dir, { recursive: true });
    await m.save('two');
    expect(await m.read()).toBe('two');
  });
});
