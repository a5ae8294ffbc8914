/**
 * The manifest loader's worker in the bundled CLI (dist/cli/load-worker.js,
 * where load-off-thread.ts looks for it): runs the loader, bundled as
 * load-worker.cjs, with V8's code cache for it (load-worker.cjs.cache). It
 * lives in src/cli, not src/manifest, because it belongs to the bundle only:
 * tsc's library build leaves src/cli out, and there the worker is
 * load-worker.js itself.
 *
 * Why: the worker starts cold at every agent start, on the way to the first
 * registration, and compiling js-yaml, zod and the schema there is part of
 * that wait. The cache holds their bytecode as compiled by a run of the
 * loader over a sample manifest at build time (scripts/bundle.mjs), the way
 * Node 22's module compile cache would. 500 services, worker spawn to reply
 * (with the loader's other changes of the same round): 355 -> 306 ms on a
 * slow phase of a 2-core machine.
 *
 * V8 checks a cache against its own version and flags, but against the
 * source's length only, and a release build does not checksum the payload.
 * So the file starts with CRC-32s of the source it was made from and of
 * V8's data: a stale or damaged cache is not used. Not using it (also when
 * V8 rejects it: another Node, a V8 flag) only means compiling as usual.
 *
 * `workerData.codeCache` is for the build: 'write' writes the cache after
 * the run, 'require' fails the worker unless the cache was used.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { workerData } from 'node:worker_threads';
import * as zlib from 'node:zlib';

const file = fileURLToPath(new URL('./load-worker.cjs', import.meta.url));
const cacheFile = `${file}.cache`;
const mode = (workerData as { codeCache?: 'write' | 'require' } | null)?.codeCache;
/** Two CRC-32s (big-endian): of the source, then of V8's data after them. */
const HEADER_BYTES = 8;
/** zlib.crc32 came in Node 20.15: without it, no cache. */
const crc32 = typeof zlib.crc32 === 'function' ? zlib.crc32 : null;

const code = readFileSync(file);
const cached = mode === 'write' ? { data: undefined, why: 'being written' } : readCache();
// The CommonJS wrapper, as Node's loader would add it.
const source = `(function (exports, require, module, __filename, __dirname) {${code.toString('utf8')}\n})`;
const script = new Script(source, { filename: file, ...(cached.data ? { cachedData: cached.data } : {}) });
if (mode === 'require' && (cached.data === undefined || script.cachedDataRejected === true)) {
  throw new Error(`${cacheFile}: ${cached.data === undefined ? cached.why : 'rejected by V8'}`);
}
const module = { exports: {} };
(script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(file), module, file, dirname(file));
// The loader has run (it is synchronous): the cache now holds what it compiled, not just its top level.
if (mode === 'write') {
  if (crc32 === null) throw new Error('writing the code cache needs zlib.crc32 (Node >= 20.15)');
  const data = script.createCachedData();
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32BE(crc32(code), 0);
  header.writeUInt32BE(crc32(data), 4);
  writeFileSync(cacheFile, Buffer.concat([header, data]));
}

/** V8's data from the cache file, when it was made from this source and is intact; otherwise why not. */
function readCache(): { data: Buffer | undefined; why: string } {
  if (crc32 === null) return { data: undefined, why: 'zlib.crc32 is missing (Node < 20.15)' };
  let raw: Buffer;
  try {
    raw = readFileSync(cacheFile);
  } catch {
    return { data: undefined, why: 'missing' };
  }
  const data = raw.subarray(HEADER_BYTES);
  if (raw.length <= HEADER_BYTES || raw.readUInt32BE(0) !== crc32(code)) return { data: undefined, why: 'made from another source' };
  if (raw.readUInt32BE(4) !== crc32(data)) return { data: undefined, why: 'damaged' };
  return { data, why: '' };
}
