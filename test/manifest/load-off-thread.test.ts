import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as OffThread from '../../src/manifest/load-off-thread.js';
import type { LoadReply, LoadRequest } from '../../src/manifest/load-worker.js';
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

/** Runs a bundled loader worker (`dir`/load-worker.js, as the CLI starts it) and returns its reply, or rejects with its error. */
function runBundledLoader(dir: string, request: LoadRequest): Promise<LoadReply> {
  const worker = new Worker(join(dir, 'load-worker.js'), { workerData: request });
  return new Promise((resolve, reject) => {
    worker.once('message', (m: LoadReply) => resolve(m));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`exited ${code} without a reply`)));
  });
}

describe('the CLI bundle\'s loader worker (load-worker.cjs with its V8 code cache)', () => {
  it('uses the code cache the build wrote, and returns what loadManifest returns', async () => {
    const path = await tmp.write('cached.yaml', MANIFEST);
    const env = { HOST_ID: 'h9' };
    const reply = await runBundledLoader(dirname(cliMain()), { configPath: path, env, codeCache: 'require' });
    expect(reply).toEqual({ ok: true, result: await loadManifest(path, env) });
  });

  it('does not use a stale, damaged or rejected cache: it compiles as usual, and says why only when the cache is required', async () => {
    const cli = dirname(cliMain());
    const cache = await readFile(join(cli, 'load-worker.cjs.cache'));
    const code = await readFile(join(cli, 'load-worker.cjs'));
    const withData = (data: Buffer, source = code): Buffer => {
      const header = Buffer.alloc(8);
      header.writeUInt32BE(crc32(source), 0);
      header.writeUInt32BE(crc32(data), 4);
      return Buffer.concat([header, data]);
    };
    const data = cache.subarray(8);
    // V8's own header: magic, version hash, source hash (the length only), flag hash, payload length.
    const v8Rejects = Buffer.from(data);
    v8Rejects.writeUInt32LE(v8Rejects.readUInt32LE(12) ^ 1, 12);
    const cases: Array<[string, Buffer, Buffer, string]> = [
      // Same length, other bytes: V8 would take it (it compares the length); the CRC must not.
      ['stale', Buffer.from(code.toString('latin1').replace('manifest', 'MANIFEST'), 'latin1'), cache, 'made from another source'],
      ['damaged', code, Buffer.concat([cache.subarray(0, 100), Buffer.from(cache.subarray(100)).map((b) => b ^ 0x5a)]), 'damaged'],
      ['rejected', code, withData(v8Rejects), 'rejected by V8'],
    ];
    for (const [name, source, cacheFile, why] of cases) {
      expect(source.length).toBe(code.length);
      const dir = join(tmp.path, `bundle-${name}`);
      await mkdir(dir);
      await copyFile(join(cli, 'load-worker.js'), join(dir, 'load-worker.js'));
      await writeFile(join(dir, 'load-worker.cjs'), source);
      await writeFile(join(dir, 'load-worker.cjs.cache'), cacheFile);
      const path = await tmp.write(`${name}.yaml`, MANIFEST);
      const reply = await runBundledLoader(dir, { configPath: path, env: { HOST_ID: 'h1' } });
      expect(reply.ok && reply.result.manifest?.services.map((s) => s.id), name).toEqual(['api-h1', 'postgres']);
      await expect(runBundledLoader(dir, { configPath: path, env: { HOST_ID: 'h1' }, codeCache: 'require' }), name).rejects.toThrow(`load-worker.cjs.cache: ${why}`);
    }
  });
});
