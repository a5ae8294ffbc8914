import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { spawnTether, startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * Issue 18 item 8 through `tether render --once` (review R18): a services list below its floor's `min`
 * leaves the file as it is and says so as `kept-floor`, not as a missing key (`kept-missing`).
 */

let tmp: TempDir;
let registry: RegistryProc;
let client: HttpRegistry;

beforeAll(async () => {
  tmp = await createTempDir('render-floor');
  registry = await startRegistry(join(tmp.path, 'registry'));
  client = new HttpRegistry({ url: registry.url });
});
afterAll(async () => {
  await client.close();
  await registry.stop('SIGKILL');
  await tmp.remove();
});

describe('tether render --once with a floor', () => {
  it('a list below min: kept-floor, the file untouched; at min: written', async () => {
    const t = `render-floor-${Date.now()}`;
    await client.createService(t, { id: 'web-1', tags: ['web'], heartbeat_timeout: 60 });
    const out = join(tmp.path, 'backends.json');
    await writeFile(out, '["the last good list"]\n');
    const config = join(tmp.path, 'tether.yaml');
    await writeFile(config, `upstream:\n  url: ${registry.url}/v1.0/${t}\nfiles:\n  - path: ${out}\n    from: { services: { tag: web, floor: { min: 2 } } }\n`);

    const dry = spawnTether(['render', '--config', config, '--once', '--dry-run', '--json']);
    expect((await dry.exited).code).toBe(0);
    expect(JSON.parse(dry.stdout())).toEqual([{ path: out, outcome: 'kept-floor' }]);
    const held = spawnTether(['render', '--config', config, '--once']);
    expect((await held.exited).code).toBe(0);
    expect(held.stdout()).toContain(`kept-floor ${out}`);
    expect(await readFile(out, 'utf8')).toBe('["the last good list"]\n');

    await client.createService(t, { id: 'web-2', tags: ['web'], heartbeat_timeout: 60 });
    const ok = spawnTether(['render', '--config', config, '--once', '--json']);
    expect((await ok.exited).code).toBe(0);
    expect(JSON.parse(ok.stdout())).toEqual([{ path: out, outcome: 'written' }]);
    expect((JSON.parse(await readFile(out, 'utf8')) as Array<{ id: string }>).map((s) => s.id)).toEqual(['web-1', 'web-2']);
  }, 60_000);
});
