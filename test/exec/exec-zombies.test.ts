import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { APP, ExecHarness, alive } from './harness.js';

/**
 * Reaping, with real processes: a child that double-forks (its middle
 * process exits, the grandchild is orphaned and exits later) leaves no
 * zombie under tether, and tether reaps its own child at every restart.
 * (Orphans re-parented to tether when it is PID 1: exec-pid1.test.ts.)
 */

const h = new ExecHarness();
beforeAll(() => h.start('exec-zombies'));
afterEach(() => h.cleanup());
afterAll(() => h.stop());

const POLL = { timeout: 20_000, interval: 50 };

/** Pids of zombie processes whose parent is `ppid` (from /proc/PID/stat: state Z, field 4 the parent). */
async function zombiesOf(ppid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(join('/proc', name, 'stat'), 'utf8').catch(() => '');
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    const [state, parent] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (state === 'Z' && Number(parent) === ppid) out.push(Number(name));
  }
  return out;
}

describe('tether exec: no zombies', () => {
  it('a double-forking child leaves no zombie under tether, and each exited child is reaped', async () => {
    const { dir, config } = await h.manifest('zombies', 'exec:\n  restart: always\n  min_uptime: 100ms\n  restart_delay: 100ms\n');
    const marker = join(dir, 'grandchild-started');
    const proc = h.exec(config, [...APP, 'doublefork', marker]);
    const tether = proc.child.pid as number;
    await expect.poll(() => proc.stdout(), POLL).toContain('MIDDLE EXITED');
    await expect.poll(() => readFile(marker, 'utf8').catch(() => ''), POLL).toMatch(/^\d+$/);
    const grandchild = Number(await readFile(marker, 'utf8'));
    // The orphan sleeps 1 s, then exits and is reaped (a zombie would still answer kill 0)...
    await expect.poll(() => alive(grandchild), POLL).toBe(false);
    // ...and neither it nor the middle process is left as a zombie of tether.
    expect(await zombiesOf(tether)).toEqual([]);
    // A crash of the child itself: reaped (gone from /proc), and tether starts it again.
    const first = Number(/START pid=(\d+)/.exec(proc.stdout())?.[1]);
    process.kill(first, 'SIGKILL');
    await expect.poll(() => (proc.stdout().match(/^START /gm) ?? []).length, POLL).toBe(2);
    await expect.poll(() => alive(first), POLL).toBe(false);
    expect(await zombiesOf(tether)).toEqual([]);
  });
});
