#!/usr/bin/env node
/**
 * Bundles the `tether` command into OUT/cli/ (default OUT = dist): main.js
 * and its chunks (one per command), with every dependency except
 * better-sqlite3 (a native addon) inlined. The library (dist/index.js) stays
 * tsc's unbundled output.
 *
 * Why: Node's module loader reads, resolves and compiles each file on its
 * own, and `tether agent` would load a few hundred (zod, yaml, pino,
 * prom-client and our own) before doing any work: see bench/README.md,
 * "Agent start-up", for what that costs.
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
  // each module's source as a string for lazy compilation; minified, the agent holds less of it.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'eof',
  logLevel: 'warning',
};
// The command: each command's code loads when it runs, as with the dynamic imports in main.ts.
await build({ ...common, entryPoints: { main: 'src/cli/main.ts' }, splitting: true });
