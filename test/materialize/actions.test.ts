import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ActionSpec } from '../../src/manifest/model.js';
import { ActionRunner, describeAction, runAction, type ActionResult } from '../../src/materialize/actions.js';
import { isDead, isReaped } from '../probes/processes.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

let dir: TempDir;
let n = 0;
const children: ChildProcess[] = [];
beforeAll(async () => {
  dir = await createTempDir('actions');
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(async () => {
  await dir.remove();
});

const file = (name: string) => join(dir.path, `${name}-${++n}`);
const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '');
const exec = (argv: string[], timeoutMs = 5000, shell = false): ActionSpec => ({ kind: 'exec', argv, shell, timeoutMs });
const sh = (script: string, timeoutMs?: number) => exec(['/bin/sh', '-c', script], timeoutMs);
const uniqueName = (prefix: string) => `${prefix}${randomBytes(4).toString('hex')}`;

/** A node child that appends every SIGHUP/SIGUSR1 it gets to `log`; resolves once its handlers are in place. */
async function startSignalTarget(title?: string): Promise<{ child: ChildProcess; log: string }> {
  const log = file('signals');
  const script = `
    const fs = require('node:fs');
    ${title ? `process.title = ${JSON.stringify(title)};` : ''}
    for (const s of ['SIGHUP', 'SIGUSR1']) process.on(s, () => fs.appendFileSync(${JSON.stringify(log)}, s + '\\n'));
    fs.writeFileSync(${JSON.stringify(log)}, 'ready\\n');
    setTimeout(() => {}, 60000);`;
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  children.push(child);
  await vi.waitFor(() => expect(read(log)).toContain('ready'), { timeout: 5000 });
  return { child, log };
}

const exited = (child: ChildProcess) =>
  new Promise<NodeJS.Signals | number | null>((r) => {
    if (child.exitCode !== null || child.signalCode !== null) r(child.signalCode ?? child.exitCode);
    else child.once('exit', (code, sig) => r(sig ?? code));
  });

describe('signal action', () => {
  it('signals the pid in a pidfile (trimmed)', async () => {
    const { child, log } = await startSignalTarget();
    const pidfile = file('pid');
    writeFileSync(pidfile, `  ${child.pid}\n`);
    const r = await runAction({ kind: 'signal', signal: 'SIGHUP', pidfile, process: null });
    expect(r).toMatchObject({ ok: true, output: `sent SIGHUP to pid ${child.pid}` });
    await vi.waitFor(() => expect(read(log)).toContain('SIGHUP'), { timeout: 5000 });
  });

  it('fails on a missing or invalid pidfile, and on a dead pid', async () => {
    const spec = (pidfile: string): ActionSpec => ({ kind: 'signal', signal: 'SIGHUP', pidfile, process: null });
    const missing = file('nope');
    expect(await runAction(spec(missing))).toMatchObject({ ok: false, output: `pidfile ${missing} not found` });
    for (const text of ['', 'abc', '12abc', '0', '-1', '1.5', '9999999999']) {
      const p = file('bad');
      writeFileSync(p, text);
      const r = await runAction(spec(p));
      expect(r.ok, text).toBe(false);
      expect(r.output).toMatch(/^pidfile .* is invalid/);
    }
    const gone = spawn('/bin/true');
    await exited(gone);
    const p = file('dead');
    writeFileSync(p, String(gone.pid));
    expect(await runAction(spec(p))).toMatchObject({ ok: false, output: `SIGHUP not sent; pid ${gone.pid}: no such process` });
  });

  it('signals every process whose comm matches (process.title, at most 15 chars)', async () => {
    const title = uniqueName('tt-'); // 11 chars
    const a = await startSignalTarget(title);
    const b = await startSignalTarget(title);
    const r = await runAction({ kind: 'signal', signal: 'SIGUSR1', pidfile: null, process: title });
    expect(r.ok).toBe(true);
    expect(r.output).toMatch(/^sent SIGUSR1 to pids \d+, \d+$/);
    expect(r.output).toContain(String(a.child.pid));
    expect(r.output).toContain(String(b.child.pid));
    await vi.waitFor(() => {
      expect(read(a.log)).toContain('SIGUSR1');
      expect(read(b.log)).toContain('SIGUSR1');
    }, { timeout: 5000 });
  });

  it('finds a process by argv[0] basename when the name is longer than comm', async () => {
    const name = uniqueName('tether-sleeper-'); // 23 chars: comm holds only 15
    const bin = join(dir.path, name);
    copyFileSync('/bin/sleep', bin);
    chmodSync(bin, 0o755);
    const child = spawn(bin, ['30'], { stdio: 'ignore' });
    children.push(child);
    await vi.waitFor(() => expect(read(`/proc/${child.pid}/comm`).trim()).toBe(name.slice(0, 15)), { timeout: 5000 });
    const r = await runAction({ kind: 'signal', signal: 'SIGTERM', pidfile: null, process: name });
    expect(r).toMatchObject({ ok: true, output: `sent SIGTERM to pid ${child.pid}` });
    expect(await exited(child)).toBe('SIGTERM');
  });

  it('fails when no process has the name', async () => {
    const name = uniqueName('no-such-');
    expect(await runAction({ kind: 'signal', signal: 'SIGHUP', pidfile: null, process: name })).toMatchObject({
      ok: false,
      output: `no process named ${name}`,
    });
  });
});

describe('exec action', () => {
  it('reports success and failure with the tail of the output', async () => {
    expect(await runAction(sh('true'))).toMatchObject({ ok: true, output: 'exit status 0' });
    expect(await runAction(sh('echo reloaded'))).toMatchObject({ ok: true, output: 'exit status 0: reloaded' });
    expect(await runAction(sh('echo out; echo err >&2; exit 3'))).toMatchObject({ ok: false, output: 'exit status 3: out\nerr' });
    expect(await runAction(sh('kill -TERM $$'))).toMatchObject({ ok: false, output: 'killed by SIGTERM' });
    expect(await runAction(exec(['/nonexistent/reload']))).toMatchObject({ ok: false, output: 'executable not found: /nonexistent/reload' });
    expect(await runAction(exec([]))).toMatchObject({ ok: false, output: 'exec action: argv is empty' });
  });

  it('caps the output at 4 KiB, keeping the tail', async () => {
    const r = await runAction(sh('head -c 100000 /dev/zero | tr "\\\\0" x; echo; echo THE-END'));
    expect(Buffer.byteLength(r.output)).toBeLessThanOrEqual(4096);
    expect(r.output).toMatch(/^exit status 0: …x+\nTHE-END$/);
  });

  it('writes the input to stdin and adds env', async () => {
    const input = JSON.stringify({ type: 'service.join', id: 'x' });
    expect(await runAction(exec(['cat']), { input })).toMatchObject({ ok: true, output: `exit status 0: ${input}` });
    expect(await runAction(exec(['cat']))).toMatchObject({ ok: true, output: 'exit status 0' });
    expect(await runAction(sh('echo "$TETHER_TEST_VAR"'), { env: { TETHER_TEST_VAR: 'v1' } })).toMatchObject({ output: 'exit status 0: v1' });
  });

  it('runs argv without a shell unless shell: true', async () => {
    const argv = ['echo', '$TETHER_TEST_VAR', ';', 'echo', '*', '`id`'];
    const env = { TETHER_TEST_VAR: 'expanded' };
    expect(await runAction(exec(argv), { env })).toMatchObject({ ok: true, output: 'exit status 0: $TETHER_TEST_VAR ; echo * `id`' });
    const shelled = await runAction(exec(['echo', '$TETHER_TEST_VAR;', 'echo', 'second'], 5000, true), { env });
    expect(shelled).toMatchObject({ ok: true, output: 'exit status 0: expanded\nsecond' });
  });

  it('kills the whole process group at the timeout, grandchildren included', async () => {
    const pids = file('pids');
    const started = performance.now();
    const r = await runAction(sh(`sleep 30 & echo $$ $! > ${pids}; wait`, 300));
    expect(r).toMatchObject({ ok: false, output: 'timed out after 300ms' });
    expect(performance.now() - started).toBeLessThan(3000);
    const [leader, grandchild] = read(pids).trim().split(' ').map(Number);
    await vi.waitFor(() => {
      expect(isReaped(leader as number)).toBe(true);
      expect(isDead(grandchild as number)).toBe(true);
    }, { timeout: 2000 });
  });

  it('does not wait for a background job the command leaves behind', async () => {
    const started = performance.now();
    const r = await runAction(sh('sleep 30 & echo $!'));
    expect(performance.now() - started).toBeLessThan(3000);
    expect(r.ok).toBe(true);
    const bg = Number(r.output.replace('exit status 0: ', ''));
    expect(isDead(bg)).toBe(false); // left alone on a normal exit
    process.kill(bg, 'SIGKILL');
  });

  it('rejects when the caller aborts, after killing the group', async () => {
    const pids = file('pids');
    const ac = new AbortController();
    const running = runAction(sh(`echo $$ > ${pids}; sleep 30`, 10_000), { signal: ac.signal });
    await vi.waitFor(() => expect(read(pids)).toMatch(/\n$/), { timeout: 5000 });
    ac.abort(new Error('shutting down'));
    await expect(running).rejects.toThrow('shutting down');
    expect(isReaped(Number(read(pids)))).toBe(true);
    await expect(runAction(sh('true'), { signal: ac.signal })).rejects.toThrow('shutting down');
  });
});

describe('http action', () => {
  interface Seen {
    method: string;
    url: string;
    headers: IncomingMessage['headers'];
    body: string;
  }
  let server: Server;
  let base: string;
  const seen: Seen[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        if (req.url === '/hang') return; // never answers
        if (req.url === '/fail') return void res.writeHead(500).end('boom');
        res.writeHead(req.url === '/ok' ? 200 : 204).end(req.url === '/ok' ? 'fine' : undefined);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  const http = (path: string, method = 'POST', headers: Record<string, string> = {}, timeoutMs = 2000): ActionSpec => ({
    kind: 'http',
    url: base + path,
    method,
    headers,
    timeoutMs,
  });

  it('sends the input as a JSON body with the headers; 2xx is ok', async () => {
    const input = '{"type":"service.join"}';
    const r = await runAction(http('/reload', 'POST', { 'x-auth-token': 's3cret' }), { input });
    expect(r).toMatchObject({ ok: true, output: 'HTTP 204' });
    expect(seen.at(-1)).toMatchObject({ method: 'POST', url: '/reload', body: input });
    expect(seen.at(-1)?.headers).toMatchObject({ 'content-type': 'application/json', 'x-auth-token': 's3cret', 'user-agent': 'tether-action' });
    expect(await runAction(http('/ok', 'GET'), { input })).toMatchObject({ ok: true, output: 'HTTP 200' });
    expect(seen.at(-1)).toMatchObject({ method: 'GET', body: '' });
  });

  it('keeps a content-type the spec sets, and sends no body without input', async () => {
    await runAction(http('/reload', 'PUT', { 'Content-Type': 'text/plain' }), { input: 'x=1' });
    expect(seen.at(-1)).toMatchObject({ method: 'PUT', body: 'x=1' });
    expect(seen.at(-1)?.headers['content-type']).toBe('text/plain');
    await runAction(http('/reload'));
    expect(seen.at(-1)?.body).toBe('');
    expect(seen.at(-1)?.headers['content-type']).toBeUndefined();
  });

  it('fails on a non-2xx status with the head of the body, on a timeout, on a refused connection', async () => {
    expect(await runAction(http('/fail'))).toMatchObject({ ok: false, output: 'HTTP 500: boom' });
    const started = performance.now();
    expect(await runAction(http('/hang', 'POST', {}, 200))).toMatchObject({ ok: false, output: 'timed out after 200ms' });
    expect(performance.now() - started).toBeLessThan(2000);
    const refused = await runAction({ kind: 'http', url: 'http://127.0.0.1:9/x', method: 'POST', headers: {}, timeoutMs: 2000 });
    expect(refused.ok).toBe(false);
    expect(refused.output).toMatch(/ECONNREFUSED/);
  });

  it('describes an action without header values, credentials or query', () => {
    const spec = http('/reload', 'POST', { authorization: 'Bearer s3cret' });
    if (spec.kind === 'http') spec.url = spec.url.replace('http://', 'http://user:pw@') + '?token=s3cret';
    const text = describeAction(spec);
    expect(text).toBe(`POST ${base}/reload`);
    expect(describeAction(exec(['/usr/sbin/nginx', '-s', 'reload']))).toBe('exec /usr/sbin/nginx');
    expect(describeAction({ kind: 'signal', signal: 'SIGHUP', pidfile: '/run/app.pid', process: null })).toBe('SIGHUP to the pid in /run/app.pid');
  });
});

describe('ActionRunner', () => {
  const quick = { initialMs: 20, maxMs: 100 };
  /** An action that appends its stdin as a line to `log`, then takes `sleep` seconds. */
  const recorder = (log: string, sleep = 0) => sh(`echo "$(cat)" >> ${log}; sleep ${sleep}`);
  const lines = (path: string) => read(path).split('\n').filter((l) => l !== '');
  const runners: ActionRunner[] = [];
  const make = (spec: ActionSpec, opts?: ConstructorParameters<typeof ActionRunner>[1]) => {
    const r = new ActionRunner(spec, opts);
    runners.push(r);
    return r;
  };
  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.destroy()));
  });

  it('coalesces triggers in one tick into one run, with the latest input', async () => {
    const log = file('runs');
    const runner = make(recorder(log));
    for (let i = 1; i <= 5; i++) runner.trigger(`t${i}`);
    await runner.run('marker'); // queued behind the coalesced run
    expect(lines(log)).toEqual(['t5', 'marker']);
  });

  it('runs exactly twice for 10 triggers during a slow run', async () => {
    const log = file('runs');
    const results: ActionResult[] = [];
    const runner = make(recorder(log, 0.3), { onResult: (r) => results.push(r) });
    runner.trigger('first');
    await vi.waitFor(() => expect(lines(log)).toEqual(['first']), { timeout: 5000 });
    for (let i = 1; i <= 10; i++) runner.trigger(`t${i}`);
    await runner.run('marker');
    expect(lines(log)).toEqual(['first', 't10', 'marker']);
    expect(results.map((r) => r.ok)).toEqual([true, true, true]);
  });

  it('retries a failure with backoff until it succeeds', async () => {
    const counter = file('count');
    // Fails on the first two attempts, succeeds on the third.
    const spec = sh(`n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; echo attempt $n; [ $n -ge 3 ]`);
    const seen: Array<[boolean, number, boolean, number]> = [];
    const runner = make(spec, { backoff: quick, onResult: (r, attempt, willRetry) => seen.push([r.ok, attempt, willRetry, performance.now()]) });
    runner.trigger();
    await vi.waitFor(() => expect(seen).toHaveLength(3), { timeout: 5000 });
    expect(seen.map(([ok, attempt, retry]) => [ok, attempt, retry])).toEqual([
      [false, 1, true],
      [false, 2, true],
      [true, 3, false],
    ]);
    // 20 ms, then 40 ms between attempts (no jitter here).
    expect((seen[1]?.[3] ?? 0) - (seen[0]?.[3] ?? 0)).toBeGreaterThanOrEqual(19);
    expect((seen[2]?.[3] ?? 0) - (seen[1]?.[3] ?? 0)).toBeGreaterThanOrEqual(39);
  });

  it('gives up after the last attempt and resolves run() with the last result', async () => {
    const seen: Array<[number, boolean]> = [];
    const runner = make(sh('echo nope; exit 1'), { attempts: 3, backoff: quick, onResult: (_r, a, retry) => seen.push([a, retry]) });
    expect(await runner.run()).toMatchObject({ ok: false, output: 'exit status 1: nope' });
    expect(seen).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
  });

  it('close() cancels a pending retry and queued runs at once', async () => {
    const log = file('runs');
    const seen: number[] = [];
    const runner = make(sh(`echo x >> ${log}; exit 1`), { backoff: { initialMs: 60_000, maxMs: 60_000 }, onResult: (_r, a) => seen.push(a) });
    const first = runner.run();
    const queued = runner.run();
    await vi.waitFor(() => expect(seen).toEqual([1]), { timeout: 5000 });
    const started = performance.now();
    await runner.close();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await first).toMatchObject({ ok: false });
    expect(await queued).toBeNull();
    expect(lines(log)).toEqual(['x']);
    runner.trigger();
    expect(await runner.run()).toBeNull();
  });

  it('close() waits for the running attempt; destroy() kills it', async () => {
    const log = file('runs');
    const graceful = make(sh(`echo start >> ${log}; sleep 0.3; echo done >> ${log}`));
    graceful.trigger();
    await vi.waitFor(() => expect(lines(log)).toEqual(['start']), { timeout: 5000 });
    graceful.trigger(); // queued: dropped by close()
    await graceful.close();
    expect(lines(log)).toEqual(['start', 'done']);

    const pids = file('pids');
    const seen: ActionResult[] = [];
    const hard = make(sh(`echo $$ > ${pids}; sleep 30`, 60_000), { onResult: (r) => seen.push(r) });
    hard.trigger();
    await vi.waitFor(() => expect(read(pids)).toMatch(/\n$/), { timeout: 5000 });
    const started = performance.now();
    await hard.destroy();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(isReaped(Number(read(pids)))).toBe(true);
    expect(seen).toEqual([]);
  });
});
