import { spawn, execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { buildCli, removeBuild } from './cli/cli-process.js';
import { freePort } from './helpers/ports.js';

/**
 * Issue 18 item 7: the README's quick start, run as written, in order, each
 * command once. `npm start` is the real npm running package.json's start
 * script in a fresh directory holding package.json, config.example.yaml and
 * dist/ (the test build). Two substitutions, both for running beside other
 * tests: the ports 8470/8471 become free ones (in the manifest copy, the
 * curl lines and TETHER_URL), and `npx tether` is the built CLI on PATH
 * (npx would build the checkout in place first; `npm install` is the build).
 */
const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
/** A person types the next command after reading the last one's output; nothing in the walkthrough asks them to wait longer. */
const HUMAN_PACE_MS = 1000;

let main: string;
let ownBuild = false;
let dir: string;
let bin: string;
let registryPort: number;
let apiPort: number;

vi.setConfig({ testTimeout: 180_000 });

beforeAll(async () => {
  const provided = inject('cliMain') as string | undefined;
  ownBuild = provided === undefined;
  main = provided ?? (await buildCli());
  dir = await mkdtemp(join(tmpdir(), 'tether-walkthrough-'));
  bin = join(dir, '.bin');
  await mkdir(bin);
  await writeFile(join(bin, 'tether'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(main)} "$@"\n`, { mode: 0o755 });
  await symlink(dirname(dirname(main)), join(dir, 'dist'));
  await copyFile(join(root, 'package.json'), join(dir, 'package.json'));
  registryPort = await freePort();
  apiPort = await freePort();
  const manifest = await readFile(join(root, 'config.example.yaml'), 'utf8');
  await writeFile(join(dir, 'config.example.yaml'), withPorts(manifest));
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  if (main && ownBuild) await removeBuild(main);
});

function withPorts(text: string): string {
  return text.replaceAll(':8470', `:${registryPort}`).replaceAll('port: 8470', `port: ${registryPort}`).replaceAll(':8471', `:${apiPort}`);
}

/** The quick start's two sh blocks: the start command and the commands of "another terminal". */
async function quickstart(): Promise<{ start: string; steps: string[] }> {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Quickstart'), readme.indexOf('### The package'));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  expect(blocks).toHaveLength(2);
  const lines = (b: string): string[] => b.split('\n').map((l) => l.replace(/\s+# .*$/, '').trim()).filter((l) => l !== '');
  return { start: (lines(blocks[0] as string)[0] as string), steps: lines(blocks[1] as string) };
}

interface StepResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function shell(command: string): Promise<StepResult> {
  const env = { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: dir, TETHER_URL: `http://127.0.0.1:${registryPort}/v1.0/default` };
  try {
    const { stdout, stderr } = await run('/bin/sh', ['-c', withPorts(command).replaceAll('npx tether', 'tether')], { cwd: dir, env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : null, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** What each walkthrough command must print (or leave on disk); a command without a rule fails the test. */
const rules: Array<[RegExp, (r: StepResult) => void | Promise<void>]> = [
  [/^npx tether services list$/, (r) => {
    for (const id of ['demo-agent-api', 'demo-exec', 'demo-static']) expect(r.stdout).toContain(id);
    expect(r.stdout).toMatch(/^demo-registry-\S+ /m);
    // on_unhealthy: keep: registered from the start, critical until its TTL check is reported.
    expect(r.stdout).toMatch(/^demo-ttl .*status=critical$/m);
  }],
  [/^cat demo\/services\.json$/, (r) => {
    const ids = (JSON.parse(r.stdout) as Array<{ id: string }>).map((s) => s.id);
    expect(ids).toEqual(expect.arrayContaining(['demo-agent-api', 'demo-exec', 'demo-static']));
  }],
  [/^cat demo\/greeting\.txt$/, () => undefined], // checked against the step before it, below
  [/^npx tether config set \/demo\/greeting hello$/, (r) => expect(r.stdout).toBe('')],
  [/^npx tether config set \/demo\/settings\/log_level debug$/, (r) => expect(r.stdout).toBe('')],
  [/^cat demo\/settings\.env$/, (r) => expect(r.stdout).toBe("LOG_LEVEL='debug'\n")],
  [/^npx tether events$/, (r) => {
    expect(r.stdout).toMatch(/service\.join +demo-static/);
    expect(r.stdout).toMatch(/configuration_value\.update +\/demo\/greeting +"Hello from Tether" -> "hello"/);
  }],
  [/^curl -X POST 127\.0\.0\.1:8471\/v1\/checks\/demo-ttl\/pass$/, () => undefined],
  [/^curl 127\.0\.0\.1:8471\/v1\/status$/, (r) => {
    const status = JSON.parse(r.stdout) as { ready: boolean; services: Array<{ id: string; health: string; registered: boolean }>; files: Array<{ path: string; ok: boolean }> };
    expect(status.ready).toBe(true);
    // The TTL pass of the step before made demo-ttl healthy.
    expect(status.services.find((s) => s.id === 'demo-ttl')).toMatchObject({ health: 'healthy', registered: true });
    expect(status.files.every((f) => f.ok)).toBe(true);
  }],
  [/^curl 127\.0\.0\.1:8471\/metrics$/, (r) => expect(r.stdout).toMatch(/^tether_\w+/m)],
];

describe('README quick start', () => {
  it('runs as written, each command once, in order', async () => {
    const { start, steps } = await quickstart();
    expect(start).toBe('npm install && npm start');
    // `npm install` is the build this test runs on; `npm start` is run for real.
    const npm = spawn('npm', ['start'], {
      cwd: dir,
      detached: true,
      env: { PATH: process.env.PATH ?? '', HOME: dir, npm_config_update_notifier: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    npm.stdout.on('data', (c: Buffer) => (output += c.toString()));
    npm.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((r) => npm.once('exit', (code) => r(code)));
    try {
      // The user reads the start-up lines, then turns to the other terminal.
      await vi.waitFor(() => expect(output).toContain('Ctrl-C deregisters every service'), { timeout: 60_000, interval: 50 });
      expect(output).toContain('try: ');
      await sleep(HUMAN_PACE_MS);

      const seen: string[] = [];
      for (const step of steps) {
        const rule = rules.find(([re]) => re.test(step));
        expect(rule, `no check for README step "${step}"`).toBeDefined();
        const r = await shell(step);
        expect({ step, code: r.code, stderr: r.stderr.includes('error') ? r.stderr : '' }).toEqual({ step, code: 0, stderr: '' });
        await (rule as [RegExp, (r: StepResult) => void])[1](r);
        if (step === 'cat demo/greeting.txt') {
          // The first cat shows the seeded value; one after `config set ... hello` shows the new one.
          expect(r.stdout).toBe(seen.at(-1)?.startsWith('npx tether config set /demo/greeting ') ? 'hello' : 'Hello from Tether');
        }
        seen.push(step);
        await sleep(HUMAN_PACE_MS);
      }
      expect(seen).toHaveLength(steps.length);
      expect(steps.length).toBeGreaterThanOrEqual(10);

      // "Ctrl-C deregisters every service and exits 0": SIGINT to the foreground group, as a terminal sends it.
      process.kill(-(npm.pid as number), 'SIGINT');
      expect(await exited).toBe(0);
      expect(output).toMatch(/deregister/i);
    } finally {
      if (npm.exitCode === null && npm.signalCode === null) process.kill(-(npm.pid as number), 'SIGKILL');
    }
  });
});
