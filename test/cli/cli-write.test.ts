import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { buildCli, removeBuild, startRegistryProcess, tether, type RegistryProcess } from './cli-process.js';

/**
 * The CLI's write side (services register/update/heartbeat, sessions
 * create/get/heartbeat/delete) as processes against a real `tether registry`
 * process; every result is read back over HTTP with our own client.
 */
let main: string;
let ownBuild = false;
let reg: RegistryProcess;
let http: HttpRegistry;
let dir: string;
let tenantSeq = 0;

vi.setConfig({ testTimeout: 120_000 });

beforeAll(async () => {
  const provided = inject('cliMain') as string | undefined;
  ownBuild = provided === undefined;
  main = provided ?? (await buildCli());
  reg = await startRegistryProcess(main);
  http = new HttpRegistry({ url: reg.url });
  dir = await mkdtemp(join(tmpdir(), 'tether-cli-write-'));
}, 90_000);

afterAll(async () => {
  await http?.close();
  expect(await reg?.stop()).toBe(0);
  if (dir) await rm(dir, { recursive: true, force: true });
  if (main && ownBuild) await removeBuild(main);
});

function tenantEnv(): { env: Record<string, string>; tenant: string } {
  const tenant = `w${++tenantSeq}`;
  return { tenant, env: { TETHER_URL: `${reg.url}/v1.0/${tenant}` } };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('tether services register / update / heartbeat', () => {
  it('registers from flags, heartbeats with the printed token chain, and updates', async () => {
    const { env, tenant } = tenantEnv();
    const reg1 = await tether(
      main,
      ['services', 'register', '--name', 'api-1', '--host', '10.0.0.5', '--port', '8080', '--version', '1.2.3', '--tag', 'api', '--tag', 'http', '--meta', 'region=dfw', '--heartbeat-timeout', '1m'],
      env,
    );
    expect(reg1.stderr).toBe('');
    expect(reg1.code).toBe(0);
    const token1 = reg1.stdout.trim();
    expect(token1).toMatch(UUID);
    const svc = await http.getService(tenant, 'api-1');
    expect(svc).toMatchObject({
      id: 'api-1',
      heartbeat_timeout: 60,
      tags: ['api', 'http'],
      metadata: { name: 'api-1', host: '10.0.0.5', port: '8080', version: '1.2.3', region: 'dfw' },
      last_seen: null,
    });

    const hb = await tether(main, ['services', 'heartbeat', 'api-1', token1], env);
    expect(hb.code).toBe(0);
    const token2 = hb.stdout.trim();
    expect(token2).toMatch(UUID);
    expect(token2).not.toBe(token1);
    expect((await http.getService(tenant, 'api-1')).last_seen).toEqual(expect.any(Number));
    // The consumed token is refused: 404, exit 1, one line on stderr.
    const again = await tether(main, ['services', 'heartbeat', 'api-1', token1], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: notFoundError \(404\): .*HeartbeatMarker/);
    const hbJson = await tether(main, ['services', 'heartbeat', 'api-1', token2, '--json'], env);
    expect(JSON.parse(hbJson.stdout)).toEqual({ token: expect.stringMatching(UUID) });

    // Metadata flags merge into what is there; --meta K= removes K; --tag replaces the tags.
    const upd = await tether(main, ['services', 'update', 'api-1', '--port', '9090', '--meta', 'region=', '--tag', 'v2', '--json'], env);
    expect(upd.code).toBe(0);
    const after = { id: 'api-1', tags: ['v2'], metadata: { name: 'api-1', host: '10.0.0.5', port: '9090', version: '1.2.3' } };
    expect(JSON.parse(upd.stdout)).toMatchObject(after);
    expect(await http.getService(tenant, 'api-1')).toMatchObject(after);
    expect((await tether(main, ['services', 'update', 'api-1', '--clear-tags', '--heartbeat-timeout', '20'], env)).code).toBe(0);
    expect(await http.getService(tenant, 'api-1')).toMatchObject({ tags: [], heartbeat_timeout: 20, metadata: after.metadata });
  });

  it('registers from a YAML file and from JSON on stdin, flags over the file', async () => {
    const { env, tenant } = tenantEnv();
    const yamlFile = join(dir, 'svc.yaml');
    await writeFile(yamlFile, 'id: db-1\nheartbeat_timeout: 45s\ntags: [db]\nmetadata:\n  port: 5432\n  primary: true\n');
    const r = await tether(main, ['services', 'register', '--file', yamlFile, '--tag', 'db', '--tag', 'pg', '--json'], env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ id: 'db-1', token: expect.stringMatching(UUID) });
    expect(await http.getService(tenant, 'db-1')).toMatchObject({ heartbeat_timeout: 45, tags: ['db', 'pg'], metadata: { port: '5432', primary: 'true' } });

    const body = JSON.stringify({ id: 'cache-1', heartbeat_timeout: 10, metadata: { host: 'c1' } });
    expect((await tether(main, ['services', 'register', '--file', '-', '--meta', 'zone=b'], env, body)).code).toBe(0);
    expect(await http.getService(tenant, 'cache-1')).toMatchObject({ heartbeat_timeout: 10, tags: [], metadata: { host: 'c1', zone: 'b' } });
  });

  it('refuses what cannot be sent, before or from the registry', async () => {
    const { env } = tenantEnv();
    const noId = await tether(main, ['services', 'register', '--port', '80'], env);
    expect(noId.code).toBe(2);
    expect(noId.stderr).toContain('a service id is required');
    const badMeta = await tether(main, ['services', 'register', '--id', 'x-1', '--meta', 'novalue'], env);
    expect(badMeta.code).toBe(2);
    expect(badMeta.stderr).toContain('--meta wants KEY=VALUE');
    const badFile = join(dir, 'bad.yaml');
    await writeFile(badFile, 'id: y-1\nname: y\n');
    const unknownKey = await tether(main, ['services', 'register', '--file', badFile], env);
    expect(unknownKey.code).toBe(1);
    expect(unknownKey.stderr).toContain('unknown key name');
    // The registry's own validation: heartbeat_timeout out of 3..120.
    const fault = await tether(main, ['services', 'register', '--id', 'z-1', '--heartbeat-timeout', '121'], env);
    expect(fault.code).toBe(1);
    expect(fault.stderr).toBe("error: badRequest (400): Validation error for key 'heartbeat_timeout': Value out of range (3..120)\n");
    expect((await tether(main, ['services', 'register', '--id', 'dup-1'], env)).code).toBe(0);
    const dup = await tether(main, ['services', 'register', '--id', 'dup-1'], env);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('serviceWithThisIdExists');
  });
});

describe('tether sessions create / get / heartbeat / delete', () => {
  it('runs a session and a service bound to it through its whole life', async () => {
    const { env, tenant } = tenantEnv();
    const created = await tether(main, ['sessions', 'create', '--heartbeat-timeout', '15s', '--meta', 'host=web-1'], env);
    expect(created.code).toBe(0);
    const [sid, token] = created.stdout.trim().split(' ') as [string, string];
    expect(token).toMatch(UUID);
    expect(await http.getSession(tenant, sid)).toMatchObject({ id: sid, heartbeat_timeout: 15, metadata: { host: 'web-1' } });

    const bound = await tether(main, ['services', 'register', '--id', 'web-1', '--session', sid, '--json'], env);
    expect(bound.code).toBe(0);
    expect(JSON.parse(bound.stdout)).toEqual({ id: 'web-1', token: null });
    expect(await http.getService(tenant, 'web-1')).toMatchObject({ session_id: sid });

    const got = await tether(main, ['sessions', 'get', sid, '--json'], env);
    expect(JSON.parse(got.stdout)).toMatchObject({ id: sid, heartbeat_timeout: 15, metadata: { host: 'web-1' }, last_seen: null });
    const table = await tether(main, ['sessions', 'get', sid], env);
    expect(table.stdout).toMatch(new RegExp(`^id +${sid}\\nmetadata +host=web-1\\nheartbeat_timeout +15\\nlast_seen +-\\n$`));

    const hb = await tether(main, ['sessions', 'heartbeat', sid, token], env);
    expect(hb.code).toBe(0);
    expect(hb.stdout.trim()).toMatch(UUID);
    expect((await http.getSession(tenant, sid)).last_seen).toEqual(expect.any(Number));

    const del = await tether(main, ['sessions', 'delete', sid], env);
    expect(del).toMatchObject({ code: 0, stdout: '' });
    await expect(http.getSession(tenant, sid)).rejects.toMatchObject({ status: 404 });
    // Its services went with it.
    await expect(http.getService(tenant, 'web-1')).rejects.toMatchObject({ status: 404 });
    const gone = await tether(main, ['sessions', 'get', sid], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('Object "Session"');

    const created2 = await tether(main, ['sessions', 'create', '--json'], env);
    expect(JSON.parse(created2.stdout)).toEqual({ id: expect.any(String), token: expect.stringMatching(UUID) });
  });
});
