import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logSettings } from '../../src/cli/log-flags.js';
import { freePort } from '../helpers/ports.js';
import { cliMain, spawnProc, spawnTether, type Proc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * --log-format json|pretty through real processes: JSON lines with level
 * names, or lines for a person; tokens and auth headers redacted in both.
 */

let tmp: TempDir;
const procs: Proc[] = [];

beforeAll(async () => {
  tmp = await createTempDir('log-format');
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await tmp.remove();
});

const SECRETS = ['hdr-s3cret-1', 'bearer-s3cret-2', 'query-s3cret-3'];

/** Starts `tether registry` with `args`; resolves with the process and its URL once it listens. */
async function registry(name: string, args: string[], env: Record<string, string> = {}): Promise<{ proc: Proc; url: string }> {
  const proc = spawnTether(['registry', '--listen', '127.0.0.1:0', '--data', join(tmp.path, name), '--log-level', 'debug', ...args], env);
  procs.push(proc);
  await expect.poll(() => proc.log.join('\n'), { timeout: 15_000 }).toContain('registry listening');
  const url = /http:\/\/127\.0\.0\.1:\d+/.exec(proc.log.find((l) => l.includes('registry listening')) ?? '')?.[0];
  expect(url).toBeDefined();
  return { proc, url: url as string };
}

/** A request carrying a token three ways: header, bearer, query. The server logs it at debug. */
async function requestWithSecrets(url: string, proc: Proc): Promise<void> {
  const res = await fetch(`${url}/v1.0/logs/limits?x-auth-token=${SECRETS[2]}`, {
    headers: { 'x-auth-token': SECRETS[0] as string, authorization: `Bearer ${SECRETS[1]}` },
  });
  expect(res.status).toBe(200);
  await expect.poll(() => proc.log.join('\n'), { timeout: 10_000 }).toContain('/v1.0/logs/limits');
}

function expectNoSecrets(text: string): void {
  for (const s of SECRETS) expect(text).not.toContain(s);
  expect(text).toContain('[redacted]');
}

describe('--log-format json', () => {
  it('writes JSON lines with level names, tokens redacted', async () => {
    const { proc, url } = await registry('json', ['--log-format', 'json']);
    await requestWithSecrets(url, proc);
    expect(await proc.stop()).toEqual({ code: 0, signal: null });
    const records = proc.log.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.find((r) => r.msg === 'registry listening')).toMatchObject({ level: 'info', url });
    const request = records.find((r) => r.msg === 'request' && r.path === '/v1.0/logs/limits');
    expect(request).toMatchObject({ level: 'debug', route: '/v1.0/{tenant}/limits', status: 200, headers: { 'x-auth-token': '[redacted]', authorization: '[redacted]' } });
    expect(records.find((r) => r.msg === 'no --auth-file: the registry accepts every request, with or without a token')?.level).toBe('warn');
    expectNoSecrets(proc.log.join('\n'));
  });

  it('is the default when stderr is not a terminal, and TETHER_LOG_FORMAT chooses too', async () => {
    const plain = await registry('default', []);
    expect(() => JSON.parse(plain.proc.log[0] as string) as unknown).not.toThrow();
    const fromEnv = await registry('env', [], { TETHER_LOG_FORMAT: 'pretty' });
    expect(fromEnv.proc.log.find((l) => l.includes('registry listening'))).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO/);
    await Promise.all([plain.proc.stop(), fromEnv.proc.stop()]);
  });

  it('rejects another format with a usage error (exit 2)', async () => {
    for (const [args, env, says] of [
      [['--log-format', 'xml'], {}, '--log-format must be json or pretty'],
      [[], { TETHER_LOG_FORMAT: 'yaml' }, 'TETHER_LOG_FORMAT must be json or pretty'],
    ] as const) {
      const p = spawnTether(['registry', '--data', join(tmp.path, 'bad'), ...args], env);
      expect((await p.exited).code).toBe(2);
      expect(p.log.join('\n')).toContain(says);
    }
  });
});

describe('--log-format pretty', () => {
  it('writes one readable line per record, level names in capitals, tokens redacted', async () => {
    const { proc, url } = await registry('pretty', ['--log-format', 'pretty']);
    await requestWithSecrets(url, proc);
    expect(await proc.stop()).toEqual({ code: 0, signal: null });
    const lines = proc.log;
    for (const line of lines) expect(() => JSON.parse(line) as unknown).toThrow();
    // Not a terminal: no colour codes.
    expect(lines.join('\n')).not.toContain('\u001b[');
    expect(lines.find((l) => l.includes('registry listening'))).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: registry listening \{.*"url":"http/);
    expect(lines.find((l) => l.includes('no --auth-file'))).toMatch(/\] WARN: /);
    const request = lines.find((l) => l.includes('"path":"/v1.0/logs/limits"'));
    expect(request).toMatch(/\] DEBUG: request \{/);
    expect(request).toContain('"x-auth-token":"[redacted]"');
    expect(lines.find((l) => l.includes('registry closed'))).toBeDefined();
    expectNoSecrets(lines.join('\n'));
  });

  it('is the default when stderr is a terminal, coloured', async () => {
    // util-linux's script(1) gives the command a pseudo-terminal (it is in Debian's essential set).
    const command = [process.execPath, cliMain(), 'registry', '--listen', '127.0.0.1:0', '--data', join(tmp.path, 'tty')].map((a) => `'${a}'`).join(' ');
    const tty = spawnProc('script', ['-qfec', command, '/dev/null'], { env: { PATH: process.env.PATH ?? '', TERM: 'xterm' } });
    procs.push(tty);
    try {
      await expect.poll(() => tty.log.join('\n') + tty.stdout(), { timeout: 15_000 }).toContain('registry listening');
      const line = (tty.log.join('\n') + tty.stdout()).split('\n').find((l) => l.includes('registry listening')) as string;
      expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] \u001b\[32mINFO\u001b\[39m: /);
    } finally {
      // Stopping script(1) only hangs up the pseudo-terminal, and the registry takes SIGHUP as "reload the
      // auth file": it would outlive the test. Its data directory names it.
      spawnSync('pkill', ['-TERM', '-f', join(tmp.path, 'tty')]);
    }
  });

  it('is the default of tether dev, even when stderr is not a terminal', async () => {
    const port = await freePort();
    const manifest = join(tmp.path, 'dev.yaml');
    await writeFile(manifest, `upstream:\n  url: http://127.0.0.1:${port}/v1.0/devlogs\nagent:\n  listen: 127.0.0.1:0\nservices:\n  - id: pretty-svc\n`);
    const dev = spawnTether(['dev', '--config', manifest, '--data', join(tmp.path, 'dev-data')]);
    procs.push(dev);
    await expect.poll(() => dev.log.join('\n'), { timeout: 15_000 }).toMatch(/\] INFO: agent started/);
    expect(await dev.stop('SIGINT')).toEqual({ code: 0, signal: null });
    for (const line of dev.log) expect(() => JSON.parse(line) as unknown).toThrow();
  });
});

describe('logSettings: the flag, else TETHER_LOG_FORMAT, else the default', () => {
  it('chooses in that order, and checks levels and formats', () => {
    expect(logSettings('x', {}, false, {})).toEqual({ level: undefined, format: 'json' });
    expect(logSettings('x', {}, true, {})).toEqual({ level: undefined, format: 'pretty' });
    expect(logSettings('x', {}, true, { TETHER_LOG_FORMAT: 'json' }).format).toBe('json');
    expect(logSettings('x', {}, false, { TETHER_LOG_FORMAT: '' }).format).toBe('json');
    expect(logSettings('x', { 'log-format': 'pretty' }, false, { TETHER_LOG_FORMAT: 'json' }).format).toBe('pretty');
    expect(logSettings('x', { 'log-level': 'debug' }, false, {})).toEqual({ level: 'debug', format: 'json' });
    expect(() => logSettings('x', { 'log-level': 'loud' }, false, {})).toThrow('--log-level must be one of');
    expect(() => logSettings('x', { 'log-format': 'xml' }, false, {})).toThrow('--log-format must be json or pretty');
  });
});
