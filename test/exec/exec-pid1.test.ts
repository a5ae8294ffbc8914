import { execFile } from 'node:child_process';
import { cp, readFile, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cliMain, type Proc } from '../helpers/procs.js';
import { APP, ExecHarness } from './harness.js';
import { childrenOf, onlyChild, spawnAsPid1 } from './pid1.js';

/**
 * `tether exec` as PID 1 without an init (`unshare --pid --fork --mount-proc`,
 * as root): orphans the kernel re-parents to it are reaped by the native
 * addon (native/reaper.c, src/lib/process-reaper.ts); the child's own exit
 * status still reaches tether (the reaper never waits for a pid tether
 * spawned); SIGTERM, which PID 1 would ignore without a handler, is forwarded.
 * Without the addon, the orphan stays a zombie: the case the README warns about.
 */

const repoRoot = resolve(import.meta.dirname, '..', '..');
const h = new ExecHarness();
const running: Array<{ unshare: Proc; pid1: number | null }> = [];

beforeAll(async () => {
  // The addon, built as scripts/test.sh builds it (nothing when it is up to date).
  await promisify(execFile)(process.execPath, [join(repoRoot, 'native', 'build.mjs'), '--if-stale'], { cwd: repoRoot });
  await h.start('exec-pid1');
}, 120_000);
afterEach(async () => {
  // SIGKILL to a namespace's PID 1 kills every process in it.
  for (const r of running.splice(0)) {
    // Only while unshare still has it as its child: a pid that has exited may be someone else's by now.
    const pid1 = await onlyChild(r.unshare.child.pid as number);
    if (pid1 !== null && pid1 === r.pid1) process.kill(pid1, 'SIGKILL');
    await r.unshare.stop('SIGKILL');
  }
});
afterAll(() => h.stop());

const POLL = { timeout: 30_000, interval: 50 };

/** Starts `cli exec --config CONFIG -- ...command` as PID 1; resolves with it and tether's host pid. */
async function execAsPid1(cli: string, config: string, command: string[]): Promise<{ proc: Proc; pid1: number }> {
  const proc = spawnAsPid1(cli, ['exec', '--config', config, '--', ...command]);
  const entry = { unshare: proc, pid1: null as number | null };
  running.push(entry);
  await expect.poll(() => onlyChild(proc.child.pid as number), POLL).not.toBeNull();
  entry.pid1 = (await onlyChild(proc.child.pid as number)) as number;
  return { proc, pid1: entry.pid1 };
}

/** Waits until the grandchild (named in `marker` by its pid inside the namespace) is tether's child, then until it is gone or a zombie. */
async function followOrphan(pid1: number, marker: string): Promise<number> {
  await expect.poll(() => readFile(marker, 'utf8').catch(() => ''), POLL).toMatch(/^\d+$/);
  const nspid = Number(await readFile(marker, 'utf8'));
  // Re-parented to tether (PID 1 of the namespace): the orphan is tether's to reap.
  await expect.poll(async () => (await childrenOf(pid1)).some((c) => c.nspid === nspid), POLL).toBe(true);
  await expect.poll(async () => (await childrenOf(pid1)).filter((c) => c.nspid === nspid && c.state !== 'Z').length, POLL).toBe(0);
  return nspid;
}

describe('tether exec as PID 1, with the reaper addon', () => {
  it('reaps the orphan of a double fork, and forwards SIGTERM to the child (tether exits with its status)', async () => {
    const { dir, config } = await h.manifest('pid1-reap', '');
    const marker = join(dir, 'grandchild');
    const { proc, pid1 } = await execAsPid1(cliMain(), config, [...APP, 'doublefork', marker, '2000']);
    await expect.poll(() => proc.stdout(), POLL).toContain('MIDDLE EXITED');
    const orphan = await followOrphan(pid1, marker);
    // Exited and reaped: no zombie at all under PID 1 (the child, the agent's watchdog `sh` run on).
    await expect.poll(async () => (await childrenOf(pid1)).filter((c) => c.state === 'Z'), POLL).toEqual([]);
    expect((await childrenOf(pid1)).map((c) => c.nspid)).not.toContain(orphan);
    expect(proc.log.join('\n')).not.toContain('without its reaper addon');

    process.kill(pid1, 'SIGTERM');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(proc.stdout()).toContain('GOT SIGTERM');
  });

  it("the child's exit status still reaches tether while orphans die around its exit", async () => {
    const { config } = await h.manifest('pid1-status', 'exec:\n  min_uptime: 100ms\n');
    // 20 orphans dying 0..380 ms after they start, the child exiting with 7 at 200 ms.
    const { proc } = await execAsPid1(cliMain(), config, [...APP, 'orphans', '20', '7', '200']);
    expect(await proc.exited).toEqual({ code: 7, signal: null });
    const stopped = proc.log.map((l) => JSON.parse(l) as { msg?: string; reaped?: number }).find((r) => r.msg === 'orphan reaper stopped');
    expect(stopped?.reaped).toBeGreaterThan(0);
  });
});

describe('tether exec as PID 1, without the addon', () => {
  it('warns, and the orphan stays a zombie until tether exits', async () => {
    // The same CLI build, where no native/build/Release/tether_reaper.node lies above it.
    const bare = join(h.tmp.path, 'bare');
    await cp(dirname(cliMain()), join(bare, 'cli'), { recursive: true });
    await symlink(join(repoRoot, 'node_modules'), join(bare, 'node_modules'));
    const { dir, config } = await h.manifest('pid1-bare', '');
    const marker = join(dir, 'grandchild');
    const { proc, pid1 } = await execAsPid1(join(bare, 'cli', 'main.js'), config, [...APP, 'doublefork', marker, '300']);
    await expect.poll(() => proc.log.join('\n'), POLL).toContain('without its reaper addon');
    const orphan = await followOrphan(pid1, marker);
    expect((await childrenOf(pid1)).filter((c) => c.state === 'Z').map((c) => c.nspid)).toEqual([orphan]);
    process.kill(pid1, 'SIGTERM');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
  });
});
