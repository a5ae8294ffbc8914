#!/usr/bin/env node
/**
 * Bundles the `tether` command into OUT/cli/ (default OUT = dist): main.js
 * and its chunks (one per command), and the manifest loader's worker, with
 * every dependency except better-sqlite3 (a native addon) inlined. The worker
 * is load-worker.cjs, one file, started by load-worker.js with V8's code
 * cache for it (load-worker.cjs.cache, written here by a run over a sample
 * manifest, then checked: see src/cli/load-worker-boot.ts).
 *
 * Why: Node's module loader costs about 1 ms per file on this class of
 * machine, and `tether agent` loaded ~270 files (undici alone 112) before
 * doing any work; bundled, the agent's start-up to "agent started" went from
 * ~1050 ms to ~760 ms with a 500-service manifest (README, Benchmarks). The
 * library (dist/index.js) stays tsc's unbundled output.
 *
 * Usage: node scripts/bundle.mjs [OUT]
 */
import { build } from 'esbuild';
import { rm, writeFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import * as zlib from 'node:zlib';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * What the build's run of the loader reads, so that the code cache holds what
 * a real manifest compiles: every section and probe kind, block and flow
 * style, ${VAR} defaults (this file is the build's, not a user's: the build
 * does not depend on config.example.yaml being there, as in the Dockerfile).
 */
const SAMPLE_MANIFEST = `upstream:
  url: http://127.0.0.1:8470/v1.0/build
  token: \${TETHER_TOKEN:-t}
  timeout: 5s
agent: { listen: "127.0.0.1:8471", heartbeat: session, log_level: info }
services:
  - id: web-\${HOSTNAME:-local}
    tags: [web, api]
    metadata: { port: "8080", weight: 3, canary: false }
    heartbeat_timeout: 15
    on_unhealthy: deregister
    check:
      http: { url: "http://127.0.0.1:8080/healthz", method: GET, headers: { Accept: text/plain }, expect_status: "200-299", body_contains: ok }
      interval: 5s
      timeout: 2s
      initial_delay: 0s
      rise: 2
      fall: 3
  - id: database
    check: { tcp: "127.0.0.1:5432", interval: 10s }
  - id: worker
    check: { exec: [pg_isready, -q], timeout: 2s }
  - id: batch
    on_unhealthy: keep
    check: { ttl: 30s }
  - id: plain
    check: { http: "http://127.0.0.1:9000/", interval: 10s, timeout: 2s }
actions:
  reload: { exec: [nginx, -s, reload], timeout: 10s }
  hup: { signal: SIGHUP, pidfile: /run/app.pid }
  notify: { http: { url: "http://127.0.0.1:9001/reload", method: POST } }
files:
  - path: out/app.json
    from: { namespace: /app/ }
    on_change: reload
    wait: { min: 1s, max: 5s }
  - path: out/upstreams.conf
    from: { web: { services: { tag: web } }, tuning: { key: /app/tuning } }
    template: upstreams.liquid
    mode: "0640"
hooks:
  - on: [service.join, service.remove]
    filter: { service_tag: web }
    action: notify
`;
const out = resolve(process.argv[2] ?? join(root, 'dist'));

// OUT/cli holds only the bundle (tsconfig.build.json leaves src/cli out): drop the chunks of the last build.
await rm(join(out, 'cli'), { recursive: true, force: true });
const common = {
  absWorkingDir: root,
  outdir: join(out, 'cli'),
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['better-sqlite3'],
  // CommonJS dependencies call require() for Node built-ins; ESM output has none of its own.
  banner: { js: "import { createRequire as __tetherCreateRequire } from 'node:module';\nconst require = __tetherCreateRequire(import.meta.url);" },
  // Whitespace and syntax only: identifiers keep their names, so stack traces stay readable. V8 keeps
  // each module's source as a string for lazy compilation; minified, the agent holds ~1.5 MB less.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'eof',
  logLevel: 'warning',
};
// The command: each command's code loads when it runs, as with the dynamic imports in main.ts.
await build({ ...common, entryPoints: { main: 'src/cli/main.ts' }, splitting: true });
// The manifest loader's worker, in one file of its own (one module to load, not six: ~15 ms sooner
// at the agent's start), as CommonJS: node:vm compiles it with a code cache, which Node 20's ES
// module loader cannot. load-off-thread.ts starts ./load-worker.js beside itself: here, the boot.
await build({ ...common, banner: undefined, format: 'cjs', entryPoints: { 'load-worker': 'src/manifest/load-worker.ts' }, outExtension: { '.js': '.cjs' } });
await build({ ...common, entryPoints: { 'load-worker': 'src/cli/load-worker-boot.ts' } });
if (typeof zlib.crc32 === 'function') {
  const sample = join(out, 'cli', 'code-cache-sample.yaml');
  try {
    await writeFile(sample, SAMPLE_MANIFEST);
    await runLoader(sample, 'write');
    await runLoader(sample, 'require');
  } finally {
    await rm(sample, { force: true });
  }
} else {
  console.warn(`bundle: no code cache for the manifest loader (zlib.crc32 needs Node >= 20.15; this is ${process.version})`);
}

/** Runs the bundled loader over `manifest` in a worker, as the agent does, with `codeCache` set. */
function runLoader(manifest, codeCache) {
  const worker = new Worker(join(out, 'cli', 'load-worker.js'), {
    workerData: { configPath: manifest, env: {}, codeCache },
    resourceLimits: { maxYoungGenerationSizeMb: 4 },
  });
  return new Promise((resolve, reject) => {
    let reply;
    const timer = setTimeout(() => (reject(new Error(`the loader's code cache (${codeCache}): no exit after 60 s`)), void worker.terminate()), 60_000);
    worker.once('message', (m) => (reply = m));
    worker.once('error', (err) => reject(new Error(`the loader's code cache (${codeCache}): ${err.message}`)));
    worker.once('exit', (code) => {
      clearTimeout(timer);
      const problem = !reply ? 'no reply' : !reply.ok ? reply.message : reply.result.manifest === null ? reply.result.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`).join('; ') : null;
      if (code !== 0 || problem !== null) reject(new Error(`the loader's code cache (${codeCache}): exit ${code}, ${problem ?? 'ok'}`));
      else resolve();
    });
  });
}
