import { spawn } from 'node:child_process';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { buildCli, removeBuild, startRegistryProcess, tether, type RegistryProcess } from './cli-process.js';

/**
 * The built CLI (tsconfig.build.json -> cli/main.js, run with node) against a
 * real `tether registry` child process on a free port with a temp --data dir.
 * The build comes from test/global-setup.ts when it runs, else from our own.
 */
let main: string;
let ownBuild = false;

// Each CLI call is a Node start-up; on a loaded machine a test of ten calls needs more than the default 30 s.
vi.setConfig({ testTimeout: 90_000 });
let reg: RegistryProcess;
let http: HttpRegistry;
let tenantSeq = 0;

beforeAll(async () => {
  const provided = inject('cliMain') as string | undefined;
  ownBuild = provided === undefined;
  main = provided ?? (await buildCli());
  reg = await startRegistryProcess(main);
  http = new HttpRegistry({ url: reg.url });
}, 60_000);

afterAll(async () => {
  await http?.close();
  const code = await reg?.stop();
  expect(code).toBe(0); // graceful shutdown on SIGTERM
  if (main && ownBuild) await removeBuild(main);
});

/** A fresh tenant URL, passed the way users do (env TETHER_URL). */
function tenantEnv(): { env: Record<string, string>; tenant: string } {
  const tenant = `cli${++tenantSeq}`;
  return { tenant, env: { TETHER_URL: `${reg.url}/v1.0/${tenant}` } };
}

describe('tether registry + config', () => {
  it('sets, gets, lists and removes values', async () => {
    const { env } = tenantEnv();
    expect(await tether(main, ['config', 'set', '/production/cassandra/listen_ip', '10.0.0.1'], env)).toMatchObject({ code: 0, stdout: '' });
    expect((await tether(main, ['config', 'set', 'plain-key', 'hello world'], env)).code).toBe(0);
    expect((await tether(main, ['config', 'set', 'from-stdin', '-'], env, 'piped\n')).code).toBe(0);

    expect(await tether(main, ['config', 'get', '/production/cassandra/listen_ip'], env)).toMatchObject({ code: 0, stdout: '10.0.0.1\n' });
    expect((await tether(main, ['config', 'get', 'from-stdin'], env)).stdout).toBe('piped\n');

    const table = await tether(main, ['config', 'list'], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toBe(
      [
        'KEY                              VALUE',
        '/production/cassandra/listen_ip  10.0.0.1',
        'from-stdin                       piped',
        'plain-key                        hello world',
        '',
      ].join('\n'),
    );
    const ns = await tether(main, ['config', 'list', 'production/', '--json'], env);
    expect(JSON.parse(ns.stdout)).toEqual([{ id: '/production/cassandra/listen_ip', value: '10.0.0.1' }]);
    expect(JSON.parse((await tether(main, ['config', 'get', 'plain-key', '--json'], env)).stdout)).toEqual({ id: 'plain-key', value: 'hello world' });

    expect((await tether(main, ['config', 'rm', 'plain-key'], env)).code).toBe(0);
    const gone = await tether(main, ['config', 'get', 'plain-key'], env);
    expect(gone.code).toBe(1);
    expect(gone.stdout).toBe('');
    expect(gone.stderr).toBe('error: notFoundError (404): object does not exist: Object "ConfigurationValue" with key "plain-key" does not exist\n');
  });

  it('prints a validation fault as one line and exits 1', async () => {
    const { env } = tenantEnv();
    const r = await tether(main, ['config', 'set', 'ab', 'x'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("error: badRequest (400): Invalid value for 'configurationId' query string parameter: String is not in range (3..500)\n");
  });

  it('pages through more values than one page holds', async () => {
    const { env, tenant } = tenantEnv();
    for (let i = 0; i < 105; i++) await http.setConfig(tenant, `key-${String(i).padStart(3, '0')}`, { value: String(i) });
    const r = await tether(main, ['--json', 'config', 'list'], env);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as unknown[]).length).toBe(105);
  });
});

describe('tether services', () => {
  it('lists, shows and removes services, as tables and JSON', async () => {
    const { env, tenant } = tenantEnv();
    await http.createService(tenant, { id: 'db-1', heartbeat_timeout: 60, tags: ['db'], metadata: { port: '5432' } });
    await http.createService(tenant, { id: 'web-1', heartbeat_timeout: 30, tags: ['web', 'http'] });

    const table = await tether(main, ['services', 'list'], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toBe(
      ['ID     TIMEOUT  LAST SEEN  TAGS      METADATA', 'db-1   60s      -          db        port=5432', 'web-1  30s      -          web,http', ''].join('\n'),
    );
    const json = await tether(main, ['services', 'list', '--tag', 'web', '--json'], env);
    expect(JSON.parse(json.stdout)).toEqual([{ id: 'web-1', tags: ['web', 'http'], metadata: {}, heartbeat_timeout: 30, last_seen: null }]);

    const one = await tether(main, ['services', 'get', 'db-1'], env);
    expect(one.stdout).toContain('metadata           port=5432\n');
    expect(JSON.parse((await tether(main, ['services', 'get', 'db-1', '--json'], env)).stdout)).toMatchObject({ id: 'db-1', heartbeat_timeout: 60 });

    expect((await tether(main, ['services', 'rm', 'db-1'], env)).code).toBe(0);
    const after = await tether(main, ['services', 'get', 'db-1'], env);
    expect(after.code).toBe(1);
    expect(after.stderr.trimEnd().split('\n')).toEqual(['error: notFoundError (404): object does not exist: Object "Service" with key "db-1" does not exist']);
  });
});

describe('tether events, limits, sessions', () => {
  it('shows the configuration events', async () => {
    const { env } = tenantEnv();
    await tether(main, ['config', 'set', 'color', 'red'], env);
    await tether(main, ['config', 'set', 'color', 'blue'], env);
    await tether(main, ['config', 'rm', 'color'], env);
    const json = await tether(main, ['events', '--json'], env);
    expect(json.code).toBe(0);
    const events = JSON.parse(json.stdout) as { type: string; payload: Record<string, unknown> }[];
    expect(events.map((e) => e.type)).toEqual(['configuration_value.update', 'configuration_value.update', 'configuration_value.remove']);
    expect(events[1]?.payload).toEqual({ old_value: 'red', new_value: 'blue', configuration_value_id: 'color' });

    const table = await tether(main, ['events', '--type', 'configuration_value.remove'], env);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+TIME\s+TYPE\s+SUBJECT\s+DETAIL$/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/configuration_value\.remove\s+color\s+was "blue"$/);
  });

  it('follows events as they happen (--follow --json: one line per event) until SIGINT', async () => {
    const { env, tenant } = tenantEnv();
    await http.setConfig(tenant, 'before', { value: '1' });
    const child = spawn(process.execPath, [main, 'events', '--follow', '--json'], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const lines: string[] = [];
      const waitLines = (n: number) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`got only ${lines.length} lines`)), 10_000);
          const check = (): void => {
            if (lines.length >= n) {
              clearTimeout(timer);
              resolve();
            }
          };
          rl.on('line', check);
          check();
        });
      const rl = createInterface({ input: child.stdout });
      rl.on('line', (l) => lines.push(l));
      await waitLines(1);
      await http.setConfig(tenant, 'after', { value: '2' });
      await waitLines(2);
      const ids = lines.map((l) => (JSON.parse(l) as { payload: { configuration_value_id: string } }).payload.configuration_value_id);
      expect(ids).toEqual(['before', 'after']);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });

  it('prints limits and sessions', async () => {
    const { env, tenant } = tenantEnv();
    const limits = await tether(main, ['limits'], env);
    expect(limits.stdout).toMatch(/^RESOURCE\s+LIMIT\nservice\s+200\n/);
    expect(JSON.parse((await tether(main, ['limits', '--json'], env)).stdout)).toMatchObject({ resource: { service: 200 } });
    const s = await http.createSession(tenant, { heartbeat_timeout: 30, metadata: { host: 'a' } });
    const sessions = await tether(main, ['sessions', 'list'], env);
    expect(sessions.stdout).toMatch(new RegExp(`^ID\\s+TIMEOUT\\s+LAST SEEN\\s+METADATA\\n${s.id}\\s+30s\\s+-\\s+host=a\\n$`));
  });
});

describe('tether usage and exit codes', () => {
  it('prints help and version', async () => {
    const help = await tether(main, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: tether <command>');
    expect((await tether(main, ['config', '--help'])).stdout).toContain('tether config get KEY');
    expect((await tether(main, ['services', 'list', '--help'])).stdout).toContain('--tag');
    expect(await tether(main, ['--version'])).toMatchObject({ code: 0, stdout: '0.1.0\n' });
  });

  it('exits 2 on usage errors', async () => {
    expect((await tether(main, [])).code).toBe(2);
    const unknown = await tether(main, ['bogus']);
    expect(unknown).toMatchObject({ code: 2, stderr: `error: unknown command "bogus"\nrun 'tether --help' for usage\n` });
    expect((await tether(main, ['config', 'get'])).code).toBe(2);
    expect((await tether(main, ['services', 'list', '--nope'])).code).toBe(2);
    expect((await tether(main, ['events', '--type', 'nope'])).code).toBe(2);
    expect((await tether(main, ['limits', '--url', 'http://h/no-tenant'])).code).toBe(2);
    expect((await tether(main, ['registry', '--data', '/tmp/x', '--event-retention', '10w'])).code).toBe(2);
    expect((await tether(main, ['registry', '--data', '/tmp/x', '--log-level', 'loud'])).code).toBe(2);
    expect((await tether(main, ['registry', '--listen', 'nohost'])).code).toBe(2);
  });

  it('exits 3 when the registry is unreachable', async () => {
    const r = await tether(main, ['limits', '--url', 'http://127.0.0.1:1/v1.0/x', '--token', 'tok-secret']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error: registry at http:\/\/127\.0\.0\.1:1 is unreachable/);
    expect(r.stderr).not.toContain('tok-secret');
  });
});

describe('tether registry --auth-file', () => {
  let authReg: RegistryProcess | undefined;
  let dir: string | undefined;

  afterAll(async () => {
    expect(await authReg?.stop()).toBe(0);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('rejects a missing token with one 401 line and accepts a valid one', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-cli-auth-'));
    const file = join(dir, 'auth.yaml');
    await writeFile(file, 'tokens:\n  - token: s3cret-token\n    tenant: "1234"\n');
    authReg = await startRegistryProcess(main, ['--auth-file', file, '--event-retention', '1h']);
    expect(authReg.log.join('\n')).not.toContain('no --auth-file');
    const url = `${authReg.url}/v1.0/1234`;
    const missing = await tether(main, ['limits', '--url', url]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('error: unauthorizedError (401): forbidden: No authentication token provided\n');
    const wrong = await tether(main, ['limits', '--url', url, '--token', 'nope']);
    expect(wrong.stderr).toBe('error: unauthorizedError (401): forbidden: Invalid or expired authentication token\n');
    expect((await tether(main, ['limits', '--url', url, '--token', 's3cret-token'])).code).toBe(0);
    expect((await tether(main, ['limits'], { TETHER_URL: url, TETHER_TOKEN: 's3cret-token' })).code).toBe(0);
  });
});
