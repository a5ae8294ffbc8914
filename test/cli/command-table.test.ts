import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/command-table.js';
import { writeTraceHooks } from '../helpers/module-trace.js';
import { cliMain } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * `tether --help` prints the command table's summaries without loading any
 * command: each summary equals its command's own, and the built CLI, traced
 * by module hooks, loads the same files for `--help` as for `--version`.
 */

const run = promisify(execFile);
let tmp: TempDir;
let register: string;

beforeAll(async () => {
  tmp = await createTempDir('command-table');
  register = await writeTraceHooks(tmp);
});
afterAll(async () => {
  await tmp.remove();
});

/** Our files (file: URLs) that `tether ...args` loaded, and its stdout. */
async function traced(name: string, args: string[]): Promise<{ files: string[]; stdout: string }> {
  const trace = join(tmp.path, `${name}.trace`);
  const { stdout } = await run(process.execPath, ['--import', register, cliMain(), ...args], {
    env: { PATH: process.env.PATH ?? '', TETHER_TRACE_FILE: trace, NODE_DISABLE_COMPILE_CACHE: '1' },
  });
  const files = (await readFile(trace, 'utf8')).split('\n').filter((u) => u.startsWith('file:') && !u.includes('/tether-command-table-'));
  return { files: [...new Set(files)].sort(), stdout };
}

describe('the command table', () => {
  it("holds each command's own summary (server is the registry command under a second name)", async () => {
    for (const [name, entry] of Object.entries(COMMANDS)) {
      const command = await entry.load();
      expect(command.name).toBe(name === 'server' ? 'registry' : name);
      expect(entry.summary, name).toBe(command.summary);
    }
  });

  it('tether --help lists every command and loads no more than tether --version', async () => {
    const [help, version] = await Promise.all([traced('help', ['--help']), traced('version', ['--version'])]);
    for (const [name, entry] of Object.entries(COMMANDS)) expect(help.stdout).toMatch(new RegExp(`^  ${name} +${entry.summary.replace(/[()]/g, '\\$&')}$`, 'm'));
    expect(version.files.length).toBeGreaterThan(0);
    expect(help.files).toEqual(version.files);
    // The positive case: a command's help does load its module.
    const agentHelp = await traced('agent-help', ['agent', '--help']);
    expect(agentHelp.files.length).toBeGreaterThan(version.files.length);
  });
});
