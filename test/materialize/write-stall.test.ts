import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cliMain, spawnProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * A file system that stalls must not stall the agent's event loop (R11 #2):
 * heartbeats and session keep-alives go out from that loop, so a write that
 * held it past a heartbeat timeout would expire every service of the agent.
 * strace delays the rename syscall by STALL_MS, as a hung NFS server or a
 * FUSE daemon would, in a child that writes through the built writeAtomically
 * while a 5 ms interval measures the loop's longest gap.
 */

const STALL_MS = 3000;
const hasStrace = spawnSync('strace', ['-V']).status === 0;

/** The child: argv[2] the built write.js, argv[3] the destination; prints the write's duration and the loop's longest gap. */
const CHILD = `
const { writeAtomically } = await import(process.argv[2]);
let last = performance.now();
let maxGap = 0;
const tick = () => {
  const now = performance.now();
  maxGap = Math.max(maxGap, now - last);
  last = now;
};
const timer = setInterval(tick, 5);
const started = performance.now();
const result = await writeAtomically(process.argv[3], 'new\\n');
const took = performance.now() - started;
tick();
clearInterval(timer);
process.stdout.write(JSON.stringify({ took, maxGap, method: result.method }));
`;

let tmp: TempDir;
beforeEach(async () => {
  tmp = await createTempDir('write-stall');
});
afterEach(async () => {
  await tmp.remove();
});

// strace is installed wherever the tests run (CI image); the test says so rather than passing vacuously.
describe('writeAtomically on a stalling file system', () => {
  it('keeps the event loop turning while the rename waits', async () => {
    expect(hasStrace, 'strace is needed to stall the rename').toBe(true);
    const script = await tmp.write('child.mjs', CHILD);
    const dest = join(tmp.path, 'out');
    await writeFile(dest, 'old\n');
    const writeJs = join(dirname(dirname(cliMain())), 'materialize', 'write.js');
    const inject = `inject=rename,renameat,renameat2:delay_enter=${STALL_MS * 1000}`;
    const argv = ['-f', '-qq', '--seccomp-bpf', '-e', 'trace=rename,renameat,renameat2', '-e', inject, '-o', '/dev/null'];
    const child = spawnProc('strace', [...argv, process.execPath, script, writeJs, dest], { env: { PATH: process.env.PATH ?? '' } });
    expect(await child.exited, child.log.join('\n')).toEqual({ code: 0, signal: null });
    const out = JSON.parse(child.stdout()) as { took: number; maxGap: number; method: string };
    expect(out.method).toBe('rename');
    // The stall really happened: the write waited for it.
    expect(out.took).toBeGreaterThanOrEqual(STALL_MS - 50);
    // Synchronous steps hold the loop for the whole stall (~3000 ms); half of it leaves room for a loaded machine.
    expect(out.maxGap).toBeLessThan(STALL_MS / 2);
    expect(await readFile(dest, 'utf8')).toBe('new\n');
  }, 30_000);
});
