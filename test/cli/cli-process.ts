import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Builds the package with tsconfig.build.json and scripts/bundle.mjs into a private directory under
 * node_modules/.cache (so concurrent builds of dist/ by others never race with
 * ours; node_modules resolution still finds the dependencies from there) and
 * returns the path of the built cli/main.js.
 */
export async function buildCli(): Promise<string> {
  const cache = join(repoRoot, 'node_modules', '.cache');
  await mkdir(cache, { recursive: true });
  const outDir = await mkdtemp(join(cache, 'tether-cli-test-'));
  const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  await run(process.execPath, [tsc, '-p', join(repoRoot, 'tsconfig.build.json'), '--outDir', outDir], { cwd: repoRoot }).catch(
    (err: { stdout?: string }) => {
      // tsc still emits when some other module has a type error; only a missing CLI is fatal.
      process.stderr.write(`tsc reported problems (build continues):\n${err.stdout ?? String(err)}\n`);
    },
  );
  await run(process.execPath, [join(repoRoot, 'scripts', 'bundle.mjs'), outDir], { cwd: repoRoot });
  return join(outDir, 'cli', 'main.js');
}

/** Deletes a build made by buildCli (given its cli/main.js). */
export async function removeBuild(main: string): Promise<void> {
  await rm(dirname(dirname(main)), { recursive: true, force: true });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node main.js ...args` to completion with a clean environment plus `env`. */
export function tether(main: string, args: string[], env: Record<string, string> = {}, input?: string): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [main, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

export interface RegistryProcess {
  /** Server root, http://127.0.0.1:PORT */
  url: string;
  child: ChildProcess;
  /** Log lines (stderr) so far. */
  log: string[];
  /** SIGTERM, then resolves with the exit code (SIGKILL after 5 s). */
  stop(): Promise<number | null>;
}

/** Starts `tether registry --listen 127.0.0.1:0` and waits for its "listening" log line (with the URL). */
export async function startRegistryProcess(main: string, extraArgs: string[] = []): Promise<RegistryProcess> {
  const data = await mkdtemp(join(tmpdir(), 'tether-cli-data-'));
  const child = spawn(process.execPath, [main, 'registry', '--listen', '127.0.0.1:0', '--data', data, ...extraArgs], {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`registry did not start:\n${log.join('\n')}`)), 10_000);
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
      log.push(line);
      try {
        const rec = JSON.parse(line) as { url?: string };
        if (rec.url) {
          clearTimeout(timer);
          resolveUrl(rec.url);
        }
      } catch {
        // not a JSON log line
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`registry exited with ${code}:\n${log.join('\n')}`));
    });
  });
  return {
    url,
    child,
    log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(kill);
      await rm(data, { recursive: true, force: true });
      return code;
    },
  };
}
