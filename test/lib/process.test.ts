import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { hasCode } from '../../src/lib/errors.js';
import { DRAIN_FREE_BYTES, DRAIN_PAUSE_MS } from '../../src/lib/output-capture.js';
import { runProcess } from '../../src/lib/process.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { isDead, isReaped, pidFile as pidFileIn } from '../probes/processes.js';

let dir: TempDir;
beforeAll(async () => {
  dir = await createTempDir('lib-process');
});
afterAll(async () => {
  await dir.remove();
});

const sh = (script: string, ...args: string[]) => ['/bin/sh', '-c', script, ...args];
const pidFile = () => pidFileIn(dir.path);

describe('runProcess: how a command ends', () => {
  it('returns the exit status and the output, stdout and stderr interleaved', async () => {
    const r = await runProcess({ argv: sh('echo out; echo err >&2; exit 3') });
    expect(r).toMatchObject({ code: 3, signal: null, timedOut: false, output: 'out\nerr\n', truncated: false, outputBytes: 8 });
    expect(r.durationMs).toBeGreaterThan(0);
  });

  it('reports a signal, runs argv without a shell unless asked', async () => {
    expect(await runProcess({ argv: sh('kill -TERM $$') })).toMatchObject({ code: null, signal: 'SIGTERM' });
    expect((await runProcess({ argv: ['echo', '$HOME', '*'] })).output).toBe('$HOME *\n');
    expect((await runProcess({ argv: ['echo', '$((1+2))'], shell: true })).output).toBe('3\n');
  });

  it('passes env, cwd and stdin', async () => {
    const r = await runProcess({ argv: sh('echo "$GREETING"; pwd; cat'), env: { ...process.env, GREETING: 'hi' }, cwd: dir.path, stdin: 'from stdin' });
    expect(r.output).toBe(`hi\n${dir.path}\nfrom stdin`);
    // Without stdin the command reads EOF at once.
    expect(await runProcess({ argv: ['cat'] })).toMatchObject({ code: 0, output: '' });
  });

  it('rejects with stable codes when the command cannot start', async () => {
    const caught = async (p: Promise<unknown>) => p.then(() => null, (err: unknown) => err);
    const missing = await caught(runProcess({ argv: ['/nonexistent/thing'] }));
    expect(hasCode(missing, 'process.not_found')).toBe(true);
    expect(String(missing)).toContain('executable not found: /nonexistent/thing');
    const dirErr = await caught(runProcess({ argv: [dir.path] }));
    expect(hasCode(dirErr, 'process.spawn_failed')).toBe(true);
    expect(String(dirErr)).toContain('EACCES');
    expect(hasCode(await caught(runProcess({ argv: [] })), 'process.invalid')).toBe(true);
  });
});

describe('runProcess: capped output', () => {
  const script = 'printf HEAD; head -c 100000 /dev/zero | tr "\\\\0" x; printf "\\n\\303\\251-THE-END"';

  it('keeps the first bytes by default, marked where cut, counting the rest', async () => {
    const r = await runProcess({ argv: sh(script), outputLimit: 100 });
    expect(r).toMatchObject({ code: 0, truncated: true, outputBytes: 4 + 100_000 + 11 });
    expect(r.output).toBe(`HEAD${'x'.repeat(96)}…`);
  });

  it('keeps the last bytes with keep: tail, never half a character', async () => {
    const r = await runProcess({ argv: sh(script), outputLimit: 10, keep: 'tail' });
    // 10 bytes end in "\n\xc3\xa9-THE-END" without the \n: the cut falls after it, a whole é.
    expect(r.output).toBe('…é-THE-END');
    const cutInside = await runProcess({ argv: sh(script), outputLimit: 9, keep: 'tail' });
    expect(cutInside.output).toBe('…-THE-END'); // the half é is dropped
  });

  it('reads a flooding command slowly past the cap, yet lets a long output finish', async () => {
    const r = await runProcess({ argv: ['yes'], timeoutMs: 1000, killGraceMs: 0 });
    expect(r.timedOut).toBe(true);
    expect(r.output.startsWith('y\ny\n')).toBe(true);
    // Past the cap and the free megabyte, one read per pause: at most a pipe's 64 KiB, plus what the
    // stream had buffered (read as fast as it comes, `yes` fills ~100 MB a second here).
    const reads = 1000 / DRAIN_PAUSE_MS + 1;
    expect(r.outputBytes).toBeLessThan(4096 + DRAIN_FREE_BYTES + reads * 2 * 65536 * 1.5);
    // 2 MB then exit: through in well under its timeout, status intact.
    const long = await runProcess({ argv: sh('head -c 2000000 /dev/zero; exit 4'), timeoutMs: 10_000 });
    expect(long).toMatchObject({ code: 4, timedOut: false, outputBytes: 2_000_000 });
  });
});

describe('runProcess: the process group', () => {
  it('at the timeout sends SIGTERM to the group, then SIGKILL after the grace', async () => {
    const f = pidFile();
    // The leader ignores SIGTERM; its grandchild does not.
    const t0 = performance.now();
    const r = await runProcess({ argv: sh('trap "" TERM; sleep 30 & echo $$ $! > "$0"; while :; do sleep 0.05; done', f.path), timeoutMs: 300, killGraceMs: 400 });
    const elapsed = performance.now() - t0;
    expect(r).toMatchObject({ timedOut: true, signal: 'SIGKILL' });
    expect(elapsed).toBeGreaterThanOrEqual(650);
    expect(elapsed).toBeLessThan(5000);
    const [leader, grandchild] = await f.pids();
    expect(isReaped(leader!)).toBe(true);
    await vi.waitFor(() => expect(isDead(grandchild!)).toBe(true), { timeout: 2000, interval: 20 });
  });

  it('on abort stops the group and rejects with the reason after reaping the leader', async () => {
    const f = pidFile();
    const ac = new AbortController();
    const running = runProcess({ argv: sh('sleep 30 & echo $$ $! > "$0"; sleep 30', f.path), signal: ac.signal });
    const [leader, grandchild] = await f.pids();
    const reason = new Error('stopping');
    ac.abort(reason);
    await expect(running).rejects.toBe(reason);
    expect(isReaped(leader!)).toBe(true);
    await vi.waitFor(() => expect(isDead(grandchild!)).toBe(true), { timeout: 2000, interval: 20 });
    await expect(runProcess({ argv: ['true'], signal: ac.signal })).rejects.toBe(reason);
  });

  it('kills what the leader left behind by default, leaves it with leftovers: leave; never waits for its pipes', async () => {
    for (const leftovers of ['kill', 'leave'] as const) {
      const f = pidFile();
      const t0 = performance.now();
      const r = await runProcess({ argv: sh('sleep 30 & echo $! > "$0"; echo done', f.path), leftovers });
      expect(r).toMatchObject({ code: 0, output: 'done\n' });
      expect(performance.now() - t0).toBeLessThan(2000);
      const [straggler] = await f.pids();
      if (leftovers === 'kill') await vi.waitFor(() => expect(isDead(straggler!)).toBe(true), { timeout: 2000, interval: 20 });
      else {
        expect(isDead(straggler!)).toBe(false);
        process.kill(straggler!, 'SIGKILL');
      }
    }
  });
});
