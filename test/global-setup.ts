import { execFile } from 'node:child_process';
import { access, mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

const run = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

declare module 'vitest' {
  export interface ProvidedContext {
    /** The built CLI (cli/main.js) that process tests spawn: the same code `npm install` ships. */
    cliMain: string;
  }
}

/**
 * Builds the package once per test run (tsc, then the CLI bundle) into a private directory (so a
 * developer's own `npm run build` into dist/ never races with the tests),
 * and hands its cli/main.js to every test file.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const outDir = join(repoRoot, 'node_modules', '.cache', `tether-test-dist-${process.pid}`);
  await mkdir(dirname(outDir), { recursive: true });
  const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  // Type errors are `npm test`'s typecheck step's to report; tsc still emits.
  await run(process.execPath, [tsc, '-p', join(repoRoot, 'tsconfig.build.json'), '--outDir', outDir], { cwd: repoRoot }).catch(() => undefined);
  // The CLI is the esbuild bundle, as `npm run build` makes it.
  await run(process.execPath, [join(repoRoot, 'scripts', 'bundle.mjs'), outDir], { cwd: repoRoot });
  const main = join(outDir, 'cli', 'main.js');
  await access(main).catch(() => {
    throw new Error(`the test build did not produce ${main}`);
  });
  project.provide('cliMain', main);
  return async () => {
    await rm(outDir, { recursive: true, force: true });
  };
}
