import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { hasCode } from '../../src/lib/errors.js';
import { createProbe } from '../../src/probes/probe.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { isDead, isReaped, pidFile as pidFileIn } from './processes.js';

let dir: TempDir;
beforeAll(async () => {
  dir = await createTempDir('probes-exec');
});
afterAll(async () => {
  await dir.remove();
});

const probe = (argv: string[], timeoutMs = 2000) => createProbe({ kind: 'exec', argv }, { timeoutMs, serviceId: 'job' });
const run = (argv: string[], timeoutMs?: number) => probe(argv, timeoutMs).run(new AbortController().signal);
const sh = (script: string, ...args: string[]) => ['/bin/sh', '-c', script, ...args];
const pidFile = () => pidFileIn(dir.path);

describe('exec probe: exit status', () => {
  it('is healthy on exit 0, with the output as text', async () => {
    expect(await run(sh('echo all good'))).toMatchObject({ ok: true, output: 'all good' });
    expect(await run(sh('exit 0'))).toMatchObject({ ok: true, output: 'exit status 0' });
  });

  it('fails on another status, with stdout+stderr', async () => {
    expect(await run(sh('echo out; echo err >&2; exit 3'))).toMatchObject({ ok: false, output: 'exit status 3: out\nerr' });
    expect(await run(sh('exit 1'))).toMatchObject({ ok: false, output: 'exit status 1' });
  });

  it('fails when the command dies from a signal', async () => {
    expect(await run(sh('kill -TERM $$'))).toMatchObject({ ok: false, output: 'killed by SIGTERM' });
  });

  it('runs argv without a shell', async () => {
    expect(await run(['echo', '$HOME', '*', '; exit 1'])).toMatchObject({ ok: true, output: '$HOME * ; exit 1' });
  });

  it('keeps the last 4 KiB of a long output', async () => {
    const r = await run(sh('head -c 200000 /dev/zero | tr "\\\\0" x; echo; echo THE-END; exit 2'));
    expect(r.ok).toBe(false);
    expect(Buffer.byteLength(r.output)).toBeLessThanOrEqual(4096);
    expect(r.output).toMatch(/^exit status 2: …x+\nTHE-END$/);
  });
});

describe('exec probe: failures to start', () => {
  it('reports a missing executable', async () => {
    expect(await run(['/nonexistent/check-thing'])).toMatchObject({ ok: false, output: 'executable not found: /nonexistent/check-thing' });
    expect(await run(['tether-no-such-command-xyz'])).toMatchObject({ ok: false, output: 'executable not found: tether-no-such-command-xyz' });
  });

  it('reports a file that cannot be executed', async () => {
    const r = await run([dir.path]);
    expect(r.ok).toBe(false);
    expect(r.output).toMatch(/EACCES/);
  });

  it('refuses an empty argv at construction', () => {
    let caught: unknown;
    try {
      probe([]);
    } catch (err) {
      caught = err;
    }
    expect(hasCode(caught, 'probe.invalid')).toBe(true);
  });
});

describe('exec probe: process groups', () => {
  it('on timeout kills the child and its grandchild, and reaps the child', async () => {
    const f = pidFile();
    const t0 = performance.now();
    const r = await run(sh('sleep 30 & echo $$ $! > "$0"; sleep 30', f.path), 300);
    expect(r).toMatchObject({ ok: false, output: 'timed out after 300ms' });
    expect(performance.now() - t0).toBeLessThan(300 + 1000);
    const [child, grandchild] = await f.pids();
    expect(isReaped(child!)).toBe(true); // no zombie of ours: reaped before run() resolved
    await vi.waitFor(() => expect(isDead(grandchild!)).toBe(true), { timeout: 2000, interval: 20 });
  });

  it('on caller abort kills the group, reaps, then rejects with the reason', async () => {
    const f = pidFile();
    const ac = new AbortController();
    const running = probe(sh('sleep 30 & echo $$ $! > "$0"; sleep 30', f.path), 10_000).run(ac.signal);
    const [child, grandchild] = await f.pids();
    const reason = new Error('agent stopping');
    ac.abort(reason);
    await expect(running).rejects.toBe(reason);
    expect(isReaped(child!)).toBe(true);
    await vi.waitFor(() => expect(isDead(grandchild!)).toBe(true), { timeout: 2000, interval: 20 });
  });

  it('does not wait for a background job left holding the pipes, and kills it', async () => {
    const f = pidFile();
    const t0 = performance.now();
    const r = await run(sh('sleep 30 & echo $! > "$0"; echo done; exit 0', f.path), 5000);
    expect(r).toMatchObject({ ok: true, output: 'done' });
    expect(performance.now() - t0).toBeLessThan(2000);
    const [straggler] = await f.pids();
    await vi.waitFor(() => expect(isDead(straggler!)).toBe(true), { timeout: 2000, interval: 20 });
  });
});
