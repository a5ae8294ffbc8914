import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { buildCli, removeBuild, tether } from './cli-process.js';

/** `tether status` against a real `tether dev` process (embedded registry and agent), text and --json. */
let main: string;
let ownBuild = false;
let dir: string;

vi.setConfig({ testTimeout: 120_000 });

beforeAll(async () => {
  const provided = inject('cliMain') as string | undefined;
  ownBuild = provided === undefined;
  main = provided ?? (await buildCli());
  dir = await mkdtemp(join(tmpdir(), 'tether-cli-status-'));
}, 90_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  if (main && ownBuild) await removeBuild(main);
});

describe('tether status', () => {
  it("prints the agent's services and files, and the /v1/status document with --json", async () => {
    const [regPort, apiPort] = [await freePort(), await freePort()];
    const config = join(dir, 'm.yaml');
    await writeFile(
      config,
      `upstream:\n  url: http://127.0.0.1:${regPort}/v1.0/st\nagent:\n  listen: 127.0.0.1:${apiPort}\n  state_dir: ${dir}/state\n` +
        `services:\n  - id: st-static\n  - id: st-ttl\n    on_unhealthy: keep\n    check: { ttl: 30s }\n` +
        `files:\n  - path: ${dir}/greeting.txt\n    from: { key: /status/greeting }\n`,
    );
    const dev = spawn(process.execPath, [main, 'dev', '--config', config, '--seed', '/status/greeting=hi-seeded-value', '--log-format', 'json'], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    dev.stderr.on('data', (c: Buffer) => (log += c.toString()));
    const exited = new Promise<number | null>((r) => dev.once('exit', (code) => r(code)));
    try {
      await vi.waitFor(() => expect(log, log).toContain('Ctrl-C deregisters every service'), { timeout: 60_000, interval: 50 });
      const agent = `http://127.0.0.1:${apiPort}`;
      // Registration follows the first probes; wait until the agent says both are registered.
      await expect
        .poll(async () => (JSON.parse((await tether(main, ['status', '--agent', agent, '--json'])).stdout) as { services: Array<{ registered: boolean }> }).services.map((s) => s.registered), { timeout: 30_000 })
        .toEqual([true, true]);

      const text = await tether(main, ['status'], { TETHER_AGENT: agent });
      expect(text.stderr).toBe('');
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/^agent \S+ {2}ready {2}since \d{4}-/);
      expect(text.stdout).toContain(`registry http://127.0.0.1:${regPort}/v1.0/st  session `);
      expect(text.stdout).toMatch(/^SERVICE +HEALTH +REGISTERED +CHECK +LAST ERROR$/m);
      expect(text.stdout).toMatch(/^st-static +healthy +yes +-$/m);
      expect(text.stdout).toMatch(/^st-ttl +unhealthy +yes +ttl 30000ms +no report yet$/m);
      expect(text.stdout).toMatch(new RegExp(`^${dir}/greeting\\.txt +ok +\\d{4}-`, 'm'));

      const json = await tether(main, ['status', '--agent', agent, '--json']);
      const doc = JSON.parse(json.stdout) as { ready: boolean; services: Array<{ id: string; health: string }>; files: Array<{ path: string; ok: boolean }> };
      expect(doc.ready).toBe(true);
      expect(doc.services.map((s) => [s.id, s.health])).toEqual([
        ['st-static', 'healthy'],
        ['st-ttl', 'unhealthy'],
      ]);
      expect(doc.files).toEqual([expect.objectContaining({ path: `${dir}/greeting.txt`, ok: true })]);
      // The seed is logged by key: a value may be a secret, and no log line carries one.
      expect(log).toContain('seeded a configuration value');
      expect(log).not.toContain('hi-seeded-value');
    } finally {
      dev.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('tether dev refuses an invalid manifest with its issues, before it listens or seeds', async () => {
    const port = await freePort();
    const config = join(dir, 'bad.yaml');
    await writeFile(config, `upstream:\n  url: http://127.0.0.1:${port}/v1.0/bad\nfiles:\n  - path: ${dir}/x\n    from: { key: /st/x }\n`);
    const r = await tether(main, ['dev', '--config', config, '--seed', '/st/x=1', '--log-format', 'json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `${config}:5:18: files[0].from.key: the registry refuses this key (Invalid value for 'configurationId' query string parameter)\n` +
        'error: the manifest is invalid; nothing was started\n',
    );
  });

  it('exits 3 when no agent answers', async () => {
    const port = await freePort();
    const r = await tether(main, ['status', '--agent', `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`error: cannot reach the agent at http://127.0.0.1:${port} (ECONNREFUSED)\n`);
  });
});
