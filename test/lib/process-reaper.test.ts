import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadReaperAddon } from '../../src/lib/process-reaper.js';
import { createTempDir } from '../helpers/tmp.js';

/**
 * The reaper addon itself (native/reaper.c), loaded as tether loads it. Its
 * work as PID 1 is tested in test/exec/exec-pid1.test.ts. `npm test` runs this
 * file on Node 20 and again on Node 24 with the same build (N-API).
 */

const root = resolve(import.meta.dirname, '..', '..');
const ECHILD = 10;

beforeAll(async () => {
  await promisify(execFile)(process.execPath, [join(root, 'native', 'build.mjs'), '--if-stale'], { cwd: root });
}, 120_000);

describe('the reaper addon', () => {
  it('is found above the module that loads it, and waits only for the pid it is given', () => {
    const addon = loadReaperAddon();
    expect(addon).not.toBeNull();
    // Not our child (our own pid, our parent): ECHILD, nothing waited for.
    expect(addon?.reap(process.pid)).toBe(-ECHILD);
    expect(addon?.reap(process.ppid)).toBe(-ECHILD);
    expect(() => addon?.reap(0)).toThrow(RangeError);
    expect(() => addon?.reap(-1)).toThrow(/pid must be a positive integer/);
  });

  it('reaps a named child (0 while it runs); libuv then never reports that exit: why tether names only pids it did not spawn', async () => {
    // A helper Node spawns a child and reaps it with the addon before libuv does.
    const script = `
      const { spawn } = require('node:child_process');
      const m = { exports: {} };
      process.dlopen(m, ${JSON.stringify(join(root, 'native', 'build', 'Release', 'tether_reaper.node'))});
      const c = spawn('/bin/sh', ['-c', 'sleep 0.3'], { stdio: 'ignore' });
      let exitSeen = false;
      c.on('exit', () => (exitSeen = true));
      const first = m.exports.reap(c.pid);
      // Polled with the event loop blocked, so libuv's SIGCHLD handling cannot reap it first.
      const nap = new Int32Array(new SharedArrayBuffer(4));
      let r = 0;
      while (r === 0) { Atomics.wait(nap, 0, 0, 10); r = m.exports.reap(c.pid); }
      setTimeout(() => { console.log(JSON.stringify({ first, r, pid: c.pid, exitSeen })); process.exit(0); }, 500);`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script]);
    const res = JSON.parse(stdout) as { first: number; r: number; pid: number; exitSeen: boolean };
    expect(res.first).toBe(0);
    expect(res.r).toBe(res.pid);
    expect(res.exitSeen).toBe(false);
  });

  it('is null where no build lies above the module', async () => {
    const tmp = await createTempDir('no-addon');
    try {
      expect(loadReaperAddon(pathToFileURL(join(tmp.path, 'lib', 'x.js')).href)).toBeNull();
    } finally {
      await tmp.remove();
    }
  });
});
