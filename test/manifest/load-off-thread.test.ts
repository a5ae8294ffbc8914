import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as OffThread from '../../src/manifest/load-off-thread.js';
import { loadManifest } from '../../src/manifest/load.js';
import { cliMain } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * loadManifestOffThread from the built package (what `tether agent` runs), so
 * the worker thread is real: its result must be the in-process loader's.
 */

let tmp: TempDir;
let offThread: typeof OffThread.loadManifestOffThread;
beforeAll(async () => {
  tmp = await createTempDir('manifest-worker');
  const built = join(dirname(cliMain()), '..', 'manifest', 'load-off-thread.js');
  offThread = ((await import(pathToFileURL(built).href)) as typeof OffThread).loadManifestOffThread;
});
afterAll(async () => {
  await tmp.remove();
});


const MANIFEST = `upstream:
  url: http://127.0.0.1:8470/v1.0/1234
agent:
  heartbeat: service
services:
  - id: api-\${HOST_ID}
    metadata: { port: 8080 }
    check: { http: "http://127.0.0.1:8080/healthz", interval: 500ms, rise: 2 }
  - id: postgres
    check: { tcp: "127.0.0.1:5432" }
files:
  - path: out/app.json
    from: { namespace: /app/ }
`;

describe('loadManifestOffThread (a worker thread)', () => {
  it('returns what loadManifest returns, frozen, with the environment given', async () => {
    const path = await tmp.write('ok.yaml', MANIFEST);
    const env = { HOST_ID: 'h7' };
    const got = await offThread(path, env);
    expect(got).toEqual(await loadManifest(path, env));
    expect(got.manifest?.services.map((s) => s.id)).toEqual(['api-h7', 'postgres']);
    expect(Object.isFrozen(got.manifest)).toBe(true);
    expect(Object.isFrozen(got.manifest?.services[0]?.check?.probe)).toBe(true);
  });

  it('returns every issue with its position, as loadManifest does', async () => {
    const path = await tmp.write('bad.yaml', 'services:\n  - id: x\n    bogus: 1\n');
    const got = await offThread(path, {});
    expect(got.manifest).toBeNull();
    expect(got.issues.length).toBeGreaterThan(1);
    expect(got.issues).toEqual((await loadManifest(path, {})).issues);
  });

  it('rejects a missing path with the TetherError code of loadManifest', async () => {
    const err = (await offThread(join(tmp.path, 'nope.yaml'), {}).catch((e: unknown) => e)) as { code?: string; message?: string };
    expect(err.code).toBe('manifest.not_found');
    expect(err.message).toBe(`${join(tmp.path, 'nope.yaml')}: no such file or directory`);
  });

  it('rejects with the reason when aborted, already or while loading', async () => {
    const path = await tmp.write('abort.yaml', MANIFEST);
    const before = new Error('not wanted');
    await expect(offThread(path, { HOST_ID: 'h' }, AbortSignal.abort(before))).rejects.toBe(before);
    const ac = new AbortController();
    const during = new Error('stopped');
    const loading = offThread(path, { HOST_ID: 'h' }, ac.signal);
    ac.abort(during);
    await expect(loading).rejects.toBe(during);
  });
});
