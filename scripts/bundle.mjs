#!/usr/bin/env node
/**
 * Bundles the `tether` command into OUT/cli/ (default OUT = dist): main.js,
 * the manifest loader's worker (load-worker.js) and the chunks they share,
 * with every dependency except better-sqlite3 (a native addon) inlined.
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
import { rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? join(root, 'dist'));

// OUT/cli holds only the bundle (tsconfig.build.json leaves src/cli out): drop the chunks of the last build.
await rm(join(out, 'cli'), { recursive: true, force: true });
await build({
  absWorkingDir: root,
  // The worker sits next to the chunks: load-off-thread.ts finds it as ./load-worker.js beside itself.
  entryPoints: { main: 'src/cli/main.ts', 'load-worker': 'src/manifest/load-worker.ts' },
  outdir: join(out, 'cli'),
  bundle: true,
  splitting: true, // each command's code loads when it runs, as with the dynamic imports in main.ts
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
});
