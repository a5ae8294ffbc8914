import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createTempDir, type TempDir } from './tmp.js';

const run = promisify(execFile);

/**
 * Module customization hooks (node:module `register`) that append every URL
 * the ESM loader resolves to the file named by TETHER_TRACE_FILE. They run on
 * the loader's own thread, so they write to a file rather than to the caller.
 */
const HOOKS = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.TETHER_TRACE_FILE, r.url + '\\n');
  return r;
}
`;
const REGISTER = `import { register } from 'node:module';
register('./hooks.mjs', import.meta.url);
`;

/**
 * Writes the tracing hooks into `dir`; returns the file to pass to
 * `node --import` (with TETHER_TRACE_FILE in the environment) to trace any process.
 */
export async function writeTraceHooks(dir: TempDir): Promise<string> {
  await dir.write('hooks.mjs', HOOKS);
  return dir.write('register.mjs', REGISTER);
}

/**
 * Imports `specifier` in a fresh `node` (this process's binary) from `cwd`,
 * and resolves with every module it loaded: the URLs the ESM loader resolved
 * (which includes the first CommonJS module of each package imported from
 * ESM, such as better-sqlite3) and the files in require.cache (CommonJS
 * modules required by CommonJS, which Node 20's hooks do not see). Rejects
 * when the import fails.
 */
export async function modulesLoadedBy(specifier: string, cwd: string): Promise<string[]> {
  const tmp = await createTempDir('module-trace');
  try {
    await tmp.write('hooks.mjs', HOOKS);
    const register = await tmp.write('register.mjs', REGISTER);
    const trace = join(tmp.path, 'trace.txt');
    const script = [
      `await import(${JSON.stringify(specifier)});`,
      "const { createRequire } = await import('node:module');",
      "console.log(JSON.stringify(Object.keys(createRequire(process.cwd() + '/').cache)));",
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--import', register, '--input-type=module', '-e', script], {
      cwd,
      env: { PATH: process.env.PATH ?? '', TETHER_TRACE_FILE: trace },
    });
    const resolved = (await readFile(trace, 'utf8')).split('\n').filter((l) => l !== '');
    const required = (JSON.parse(stdout) as string[]).map((f) => `file://${f}`);
    return [...new Set([...resolved, ...required])];
  } finally {
    await tmp.remove();
  }
}

/**
 * Our modules the client entry must never load: the server, the stores, the
 * daemon's parts, and the domain services (the client shares only the domain
 * types and faults). Third-party packages are checked apart: the client needs none.
 */
export const SERVER_MODULES = [
  /\/(server|store|agent|cli|manifest|materialize|probes|sync|observability|lifecycle)\//,
  /\/server-entry\.js$/,
  /\/(registry|queues)\/(service|services|context|messages|queue-ops|posting|feed)\.js$/,
];

/** The package names under node_modules among `urls`, sorted, each once. */
export function packagesIn(urls: readonly string[]): string[] {
  const names = urls.map((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter((n) => n !== undefined && n !== '.cache');
  return [...new Set(names as string[])].sort();
}
