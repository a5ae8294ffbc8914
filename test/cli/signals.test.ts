import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnProc, type Proc } from '../helpers/procs.js';

/**
 * firstSignal in a real process: a repeat inside the window is the same
 * request (Ctrl-C reaches both npm and the agent, and npm forwards it), a
 * later one exits at once.
 */

const signals = join(import.meta.dirname, '..', '..', 'src', 'lifecycle', 'signals.ts');
let proc: Proc | undefined;

afterEach(async () => {
  if (proc && proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  await proc?.exited;
});

/** A process whose "shutdown" takes 5 s after the first signal, with a 300 ms repeat window. */
function start(): Proc {
  const code = `import { firstSignal } from ${JSON.stringify(signals)};
    firstSignal(undefined, 300).then((sig) => {
      console.error(JSON.stringify({ msg: 'first', sig }));
      setTimeout(() => process.exit(0), 5000);
    });
    setInterval(() => {}, 1000); // a signal listener alone does not keep a process alive
    console.error(JSON.stringify({ msg: 'listening' }));`;
  return spawnProc(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { env: { PATH: process.env.PATH ?? '' }, cwd: join(import.meta.dirname, '..', '..') });
}

describe('firstSignal', () => {
  it('takes a repeat within the window as the same request, and exits 1 at a later one', async () => {
    proc = start();
    await proc.waitForLog((r) => r.msg === 'listening');
    proc.child.kill('SIGINT');
    proc.child.kill('SIGINT');
    await proc.waitForLog((r) => r.msg === 'first');
    await new Promise((r) => setTimeout(r, 100));
    expect(proc.child.exitCode).toBeNull();
    // Past the window: a second request, for a shutdown that hangs.
    await new Promise((r) => setTimeout(r, 400));
    const t = performance.now();
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toEqual({ code: 1, signal: null });
    expect(performance.now() - t).toBeLessThan(2000);
  });
});
