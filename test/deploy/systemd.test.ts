import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/manifest/model.js';
import { repoRoot } from '../helpers/clean-copy.js';
import { cliMain, spawnProc, type Proc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * systemd/*.service: the directives operators rely on, `systemd-analyze
 * verify` and its offline security review, and the ExecStart and ExecReload
 * command lines run for real (paths under /var and /etc mapped to a temp dir).
 */

const run = promisify(execFile);
const UNITS = ['tether.service', 'tether-registry.service'];
/** Where the units expect the CLI; the test's copies point at a wrapper of the built one. */
const BIN = '/usr/local/bin/tether';

type Unit = Record<string, Record<string, string[]>>;

/** Sections -> key -> values (a key may repeat); comments and blank lines dropped. */
function parseUnit(text: string): Unit {
  const unit: Unit = {};
  let section: Record<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) {
      section = unit[head[1] as string] = {};
      continue;
    }
    const at = line.indexOf('=');
    if (!section || at < 0) throw new Error(`not a unit line: ${line}`);
    const key = line.slice(0, at).trim();
    (section[key] ??= []).push(line.slice(at + 1).trim());
  }
  return unit;
}

let tmp: TempDir;
let bin: string;
const units: Record<string, Unit> = {};
const texts: Record<string, string> = {};
const procs: Proc[] = [];

beforeAll(async () => {
  tmp = await createTempDir('systemd');
  await mkdir(join(tmp.path, 'bin'));
  bin = join(tmp.path, 'bin', 'tether');
  await writeFile(bin, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(cliMain())} "$@"\n`);
  await chmod(bin, 0o755);
  for (const name of UNITS) {
    texts[name] = await readFile(join(repoRoot, 'systemd', name), 'utf8');
    units[name] = parseUnit(texts[name]);
    await writeFile(join(tmp.path, name), texts[name].replaceAll(`ExecStart=${BIN} `, `ExecStart=${bin} `));
  }
});

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  await tmp?.remove();
});

const one = (unit: Unit, section: string, key: string): string | undefined => unit[section]?.[key]?.at(-1);

/** ExecStart (or another Exec line) as argv, with unit paths mapped to test ones. */
function argv(line: string, map: Record<string, string>): string[] {
  return line.split(/\s+/).map((w) => map[w] ?? w);
}

describe('systemd units', () => {
  it.each(UNITS)('%s: reload by SIGHUP, restart on failure, a dedicated user, hardened', (name) => {
    const u = units[name] as Unit;
    expect(one(u, 'Service', 'Type')).toBe('exec');
    // Through `env node`, to give node its heap flags as arguments (test/agent/node-options.test.ts, test/deploy/registry-node-args.test.ts).
    expect(one(u, 'Service', 'ExecStart')?.replace(/^\/usr\/bin\/env node (--\S+ )*/, '').startsWith(`${BIN} `)).toBe(true);
    expect(one(u, 'Service', 'ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(one(u, 'Service', 'Restart')).toBe('on-failure');
    expect(one(u, 'Service', 'User')).toMatch(/^tether/);
    expect(one(u, 'Service', 'StateDirectory')).toMatch(/^tether/);
    for (const [key, value] of Object.entries({
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectControlGroups: 'yes',
      RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6',
      CapabilityBoundingSet: '',
    })) {
      expect(one(u, 'Service', key), `${name}: ${key}`).toBe(value);
    }
    expect(one(u, 'Install', 'WantedBy')).toBe('multi-user.target');
  });

  it("the agent's unit gives it its default state_dir and writable output directories", () => {
    const u = units['tether.service'] as Unit;
    expect(`/var/lib/${one(u, 'Service', 'StateDirectory')}`).toBe(DEFAULTS.stateDir);
    expect(u.Service?.ReadWritePaths?.length).toBeGreaterThan(0);
    expect(one(u, 'Service', 'ExecStart')).toMatch(new RegExp(`^/usr/bin/env node (--\\S+ )*${BIN} agent --config /etc/tether/tether.yaml$`));
  });

  it('pass systemd-analyze verify, and its offline security review at exposure 3.0 or less', async () => {
    const files = UNITS.map((n) => join(tmp.path, n));
    const verify = await run('systemd-analyze', ['verify', ...files]).catch((err: { stderr?: string; code?: number }) => ({ stdout: '', stderr: `${err.stderr} (exit ${err.code})` }));
    expect(verify.stderr).toBe('');
    // `--threshold` is in tenths of the printed exposure (0.0 best .. 10.0 worst).
    const security = await run('systemd-analyze', ['security', '--offline=true', '--threshold=30', ...files]);
    expect(security.stdout).toMatch(/Overall exposure level for tether\.service: [0-2]\.\d OK/);
    expect(security.stdout).toMatch(/Overall exposure level for tether-registry\.service: [0-2]\.\d OK/);
  });

  it("ExecStart runs; ExecReload re-reads the registry's auth file and the agent's manifest, and neither process dies of it", async () => {
    const registryUnit = units['tether-registry.service'] as Unit;
    const agentUnit = units['tether.service'] as Unit;
    const data = join(tmp.path, 'var', 'lib', 'tether-registry');
    const auth = join(tmp.path, 'auth.yaml');
    await writeFile(auth, 'tokens:\n  - { token: old-token, tenant: "*" }\n');
    // The operator guide's "add --auth-file to ExecStart".
    const [regCmd, ...regArgs] = [
      // `env node` runs this Node, and node the built CLI (as the agent's below).
      ...argv(one(registryUnit, 'Service', 'ExecStart') as string, { [BIN]: cliMain(), '127.0.0.1:8470': '127.0.0.1:0', '/var/lib/tether-registry': data }),
      '--auth-file',
      auth,
    ];
    const registry = spawnProc(regCmd as string, regArgs, { env: { PATH: process.env.PATH ?? '' } });
    procs.push(registry);
    const url = (await registry.waitForLog((r) => typeof r.url === 'string')).url as string;
    const status = async (token: string): Promise<number> => (await fetch(`${url}/v1.0/t1/limits`, { headers: { 'x-auth-token': token } })).status;
    expect(await status('old-token')).toBe(200);

    const reload = async (unit: Unit, pid: number): Promise<void> => {
      const [cmd, ...args] = argv(one(unit, 'Service', 'ExecReload') as string, { $MAINPID: String(pid) });
      await run(cmd as string, args);
    };
    await writeFile(auth, 'tokens:\n  - { token: new-token, tenant: "*" }\n');
    await reload(registryUnit, registry.child.pid as number);
    await expect.poll(() => status('new-token'), { timeout: 5000 }).toBe(200);
    expect(await status('old-token')).toBe(401);
    // A broken edit keeps the tokens in use.
    await writeFile(auth, 'tokens: [');
    await reload(registryUnit, registry.child.pid as number);
    await registry.waitForLog((r) => r.msg === 'auth file rejected; the previous tokens stay');
    expect(await status('new-token')).toBe(200);

    const etc = join(tmp.path, 'etc', 'tether');
    await mkdir(etc, { recursive: true });
    const manifest = join(etc, 'tether.yaml');
    await writeFile(
      manifest,
      `upstream: { url: "${url}/v1.0/t1", token: new-token }\nagent: { listen: "127.0.0.1:0", state_dir: ${join(tmp.path, 'state')} }\nservices:\n  - { id: systemd-unit-check }\n`,
    );
    // `env node` runs this Node, and node the built CLI.
    const [agentCmd, ...agentArgs] = argv(one(agentUnit, 'Service', 'ExecStart') as string, { [BIN]: cliMain(), '/etc/tether/tether.yaml': manifest });
    const agent = spawnProc(agentCmd as string, agentArgs, { env: { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` } });
    procs.push(agent);
    await agent.waitForLog((r) => r.msg === 'agent started');
    await reload(agentUnit, agent.child.pid as number);
    await agent.waitForLog((r) => r.msg === 'manifest reloaded');
    // The agent registers once its first probe round is done, which need not come before the reload's log line.
    const ids = async (): Promise<string[]> => {
      const services = await fetch(`${url}/v1.0/t1/services`, { headers: { 'x-auth-token': 'new-token' } });
      return ((await services.json()) as { values: Array<{ id: string }> }).values.map((s) => s.id);
    };
    await expect.poll(ids, { timeout: 10_000 }).toEqual(['systemd-unit-check']);

    // `systemctl stop` with KillMode=mixed: SIGTERM to the main process.
    expect(await agent.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(await registry.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
