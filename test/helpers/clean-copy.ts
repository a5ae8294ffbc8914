import { execFile, spawn } from 'node:child_process';
import { cp } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
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

/**
 * Runs a command to completion with its output captured; resolves with its
 * stdout, all its output (stdout and stderr) and the time it took; rejects with the output when it exits non-zero.
 */
export function runCommand(command: string, args: string[], cwd: string, env: Record<string, string>): Promise<{ stdout: string; output: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
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

/** The environment a newcomer's shell gives npm: PATH and HOME, nothing of this test run's. */
export function userEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...extra };
}
