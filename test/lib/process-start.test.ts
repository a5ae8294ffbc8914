import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { hasCode } from '../../src/lib/errors.js';
import { startProcess, type ProcessHandle } from '../../src/lib/process.js';
import { isListedChild } from '../../src/lib/process-spawn.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { isDead, isReaped, pidFile as pidFileIn } from '../probes/processes.js';

/** startProcess, the runner's long-lived mode (`tether exec`'s child), with real processes. */

let dir: TempDir;
const started: ProcessHandle[] = [];
beforeAll(async () => {
  dir = await createTempDir('lib-process-start');
});
afterAll(async () => {
  for (const p of started) p.signalGroup('SIGKILL');
  await dir.remove();
});

const sh = (script: string, ...args: string[]) => ['/bin/sh', '-c', script, ...args];
const start = async (...a: Parameters<typeof startProcess>): Promise<ProcessHandle> => {
  const p = await startProcess(...a);
  started.push(p);
  return p;
};
/** The process group and session of `pid`, from /proc/PID/stat (fields 5 and 6). */
async function groupOf(pid: number): Promise<{ pgid: number; sid: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { pgid: Number(f[2]), sid: Number(f[3]) };
}

describe('startProcess', () => {
  it('runs argv with exactly the env given, in a session and group of its own; exited has the status', async () => {
    const out = await dir.write('env-out', '');
    const p = await start({ argv: sh('echo "$GREETING:$HOME" > "$0"; exec sleep 30', out), env: { GREETING: 'hi' }, cwd: dir.path });
    expect(p.running).toBe(true);
    expect(await groupOf(p.pid)).toEqual({ pgid: p.pid, sid: p.pid });
    await vi.waitFor(async () => expect(await readFile(out, 'utf8')).toBe('hi:\n'), { timeout: 5000 });
    // Listed as ours while it runs, so the orphan reaper never waits for it.
    expect(isListedChild(p.pid)).toBe(true);
    expect(p.signal('SIGTERM')).toBe(true);
    expect(await p.exited).toEqual({ code: null, signal: 'SIGTERM' });
    expect(p.running).toBe(false);
    expect(isListedChild(p.pid)).toBe(false);
    expect(isReaped(p.pid)).toBe(true);
    expect(p.signal('SIGTERM')).toBe(false);
    expect(await (await start({ argv: sh('exit 3') })).exited).toEqual({ code: 3, signal: null });
  });

  it('signalGroup reaches what the process started; its leftovers are killed when it exits unless left', async () => {
    const f = pidFileIn(dir.path);
    const p = await start({ argv: sh('trap "" TERM; sleep 30 & echo $! > "$0"; wait', f.path) });
    const [sleeper] = await f.pids();
    expect(p.signalGroup('SIGKILL')).toBe(true);
    expect(await p.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await vi.waitFor(() => expect(isDead(sleeper as number)).toBe(true), { timeout: 5000, interval: 20 });

    for (const leftovers of ['kill', 'leave'] as const) {
      const g = pidFileIn(dir.path);
      const q = await start({ argv: sh('sleep 30 & echo $! > "$0"', g.path), leftovers });
      const [straggler] = await g.pids();
      expect(await q.exited).toEqual({ code: 0, signal: null });
      if (leftovers === 'kill') await vi.waitFor(() => expect(isDead(straggler as number)).toBe(true), { timeout: 5000, interval: 20 });
      else {
        expect(isDead(straggler as number)).toBe(false);
        expect(q.signalGroup('SIGKILL')).toBe(true);
      }
    }
  });

  it('rejects with stable codes when the command cannot start', async () => {
    const caught = async (p: Promise<unknown>) => p.then(() => null, (err: unknown) => err);
    const missing = await caught(startProcess({ argv: ['/nonexistent/thing'] }));
    expect(hasCode(missing, 'process.not_found')).toBe(true);
    expect(String(missing)).toContain('command not found: /nonexistent/thing');
    const notExec = await caught(startProcess({ argv: [dir.path] }));
    expect(hasCode(notExec, 'process.not_executable')).toBe(true);
    expect(String(notExec)).toContain('EACCES');
    expect(hasCode(await caught(startProcess({ argv: [] })), 'process.invalid')).toBe(true);
    // A NUL byte cannot reach execve: a stable code naming the variable, never its value (it may be a secret).
    const nul = await caught(startProcess({ argv: ['/bin/true'], env: { PATH: '/bin', DB_PASSWORD: 's3cret\0tail' } }));
    expect(hasCode(nul, 'process.invalid')).toBe(true);
    expect(String(nul)).toContain('the environment variable DB_PASSWORD holds a NUL byte');
    expect(String(nul)).not.toContain('s3cret');
  });
});
