import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnTether, type Proc } from '../helpers/procs.js';
import { useRegistry, metricValue } from '../helpers/agent-env.js';

/**
 * Issue 18 item 10, end to end (real registry, real agent processes, the
 * real CLI): `tether maint` takes services out of discovery through the
 * local API, and they stay out across reloads and agent restarts until
 * disabled.
 */

const env = useRegistry('maint');
const { procs } = env;
let seq = 0;


const ids = async (tenant: string) => (await env.client.listServices(tenant)).values.map((s) => s.id).sort();

interface Entry {
  reason: string | null;
  since: number;
}
interface Status {
  ready: boolean;
  maintenance: { agent: Entry | null; services: Record<string, Entry> };
  services: Array<{ id: string; registered: boolean; maintenance: Entry | null }>;
}

async function caseDir(): Promise<string> {
  const dir = join(env.tmp.path, `case-${++seq}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

function manifest(tenant: string, dir: string, names: string[]): string {
  return (
    `upstream:\n  url: ${env.registry.url}/v1.0/${tenant}\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${dir}/state\n` +
    `services:\n${names.map((n) => `  - id: ${n}\n`).join('')}`
  );
}

async function start(config: string, env: Record<string, string> = {}): Promise<{ proc: Proc; api: string }> {
  const proc = spawnTether(['agent', '--config', config], env);
  procs.push(proc);
  const rec = await proc.waitForLog((r) => r.msg === 'agent started');
  return { proc, api: rec.api as string };
}

async function maint(api: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return maintWith({}, api, ...args);
}

async function maintWith(env: Record<string, string>, api: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnTether(['maint', ...args, '--agent', api], env);
  const { code } = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.log.join('\n') };
}

const status = async (api: string) => (await (await fetch(`${api}/v1/status`)).json()) as Status;

describe('tether maint: one service', () => {
  it('leaves discovery at once, stays out across a reload and a restart (never registered meanwhile), and comes back on disable', async () => {
    const t = `maint-one-${Date.now()}`;
    const dir = await caseDir();
    const config = join(dir, 'tether.yaml');
    await writeFile(config, manifest(t, dir, ['alpha', 'beta']));
    let { proc, api } = await start(config);
    await expect.poll(() => ids(t), { timeout: 8000 }).toEqual(['alpha', 'beta']);

    const on = await maint(api, 'enable', '--service', 'beta', '--reason', 'disk swap');
    expect(on).toMatchObject({ code: 0, stdout: 'service beta: maintenance enabled\n' });
    await expect.poll(() => ids(t), { timeout: 5000 }).toEqual(['alpha']);
    const s = await status(api);
    expect(s.maintenance.services.beta).toMatchObject({ reason: 'disk swap' });
    expect(s.maintenance.agent).toBeNull();
    expect(s.services.find((x) => x.id === 'beta')).toMatchObject({ registered: false, maintenance: { reason: 'disk swap' } });
    expect(s.services.find((x) => x.id === 'alpha')).toMatchObject({ registered: true, maintenance: null });
    expect(await metricValue(api, 'tether_service_maintenance{service="beta"}')).toBe(1);
    expect(await metricValue(api, 'tether_service_maintenance{service="alpha"}')).toBe(0);
    await proc.waitForLog((r) => r.msg === 'maintenance enabled; out of discovery' && r.service === 'beta' && r.reason === 'disk swap');
    // On disk, in the state dir.
    expect(JSON.parse(await readFile(join(dir, 'state', 'maintenance.json'), 'utf8'))).toMatchObject({ agent: null, services: { beta: { reason: 'disk swap' } } });

    // A reload (a new service, beta's tags changed) keeps beta out.
    await writeFile(config, manifest(t, dir, ['alpha', 'beta', 'gamma']).replace('  - id: beta\n', '  - id: beta\n    tags: [v2]\n'));
    await proc.waitForLog((r) => r.msg === 'manifest reloaded', 10_000);
    await expect.poll(() => ids(t), { timeout: 5000 }).toEqual(['alpha', 'gamma']);

    // A restart: alpha and gamma come back, beta is never registered.
    expect((await proc.stop('SIGTERM')).code).toBe(0);
    await expect.poll(() => ids(t), { timeout: 5000 }).toEqual([]);
    ({ proc, api } = await start(config));
    await expect.poll(async () => (await status(api)).ready, { timeout: 8000 }).toBe(true);
    expect(await ids(t)).toEqual(['alpha', 'gamma']);
    expect(proc.log.some((l) => l.includes('"service":"beta"') && l.includes('"msg":"registered"'))).toBe(false);
    expect((await status(api)).maintenance.services.beta).toMatchObject({ reason: 'disk swap', since: s.maintenance.services.beta?.since });

    const off = await maint(api, 'disable', '--service', 'beta');
    expect(off).toMatchObject({ code: 0, stdout: 'service beta: maintenance disabled\n' });
    await expect.poll(() => ids(t), { timeout: 5000 }).toEqual(['alpha', 'beta', 'gamma']);
    expect((await status(api)).maintenance.services).toEqual({});
    expect(await metricValue(api, 'tether_service_maintenance{service="beta"}')).toBe(0);
    // Disabling again changes nothing and says so.
    expect((await maint(api, 'disable', '--service', 'beta')).stdout).toBe('service beta: maintenance disabled (already so)\n');
  }, 60_000);

  it('refuses an unknown service, a bad request and a change it cannot save, changing nothing', async () => {
    const t = `maint-bad-${Date.now()}`;
    const dir = await caseDir();
    const config = join(dir, 'tether.yaml');
    await writeFile(config, manifest(t, dir, ['alpha']));
    const { api } = await start(config);
    await expect.poll(() => ids(t), { timeout: 8000 }).toEqual(['alpha']);
    const r = await maint(api, 'enable', '--service', 'nosuch');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the agent refused \(404\): no service "nosuch" in the manifest/);
    expect((await fetch(`${api}/v1/maint?enable=maybe`, { method: 'PUT' })).status).toBe(400);
    expect((await fetch(`${api}/v1/maint`, { method: 'POST' })).status).toBe(405);
    expect(await (await fetch(`${api}/v1/maint`)).json()).toEqual({ agent: null, services: {} });
    expect(await ids(t)).toEqual(['alpha']);
    // It cannot be saved (a directory where the file goes): refused, nothing changes.
    await mkdir(join(dir, 'state', 'maintenance.json'), { recursive: true });
    const unsaved = await maint(api, 'enable', '--service', 'alpha');
    expect(unsaved.code).toBe(1);
    expect(unsaved.stderr).toMatch(/the agent refused \(500\): cannot save maintenance state/);
    expect(await (await fetch(`${api}/v1/maint`)).json()).toEqual({ agent: null, services: {} });
    await new Promise((r) => setTimeout(r, 300));
    expect(await ids(t)).toEqual(['alpha']);
    // No agent there: exit 3, as for an unreachable registry.
    const gone = spawnTether(['maint', 'status', '--agent', 'http://127.0.0.1:1']);
    expect((await gone.exited).code).toBe(3);
  }, 30_000);
});

describe('tether maint: with the local API token', () => {
  it('is refused without the token and works with it (flag or TETHER_AGENT_TOKEN)', async () => {
    const t = `maint-token-${Date.now()}`;
    const dir = await caseDir();
    const config = join(dir, 'tether.yaml');
    await writeFile(config, manifest(t, dir, ['alpha']));
    const { api } = await start(config, { TETHER_AGENT_TOKEN: 's3cret-token' });
    await expect.poll(() => ids(t), { timeout: 8000 }).toEqual(['alpha']);
    const refused = await maint(api, 'enable', '--service', 'alpha');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/the agent refused \(401\)/);
    expect(refused.stderr).not.toContain('s3cret-token');
    expect(await ids(t)).toEqual(['alpha']);
    expect((await maint(api, 'enable', '--service', 'alpha', '--token', 's3cret-token')).code).toBe(0);
    await expect.poll(() => ids(t), { timeout: 5000 }).toEqual([]);
    expect((await maintWith({ TETHER_AGENT_TOKEN: 's3cret-token' }, api, 'disable', '--service', 'alpha')).code).toBe(0);
    await expect.poll(() => ids(t), { timeout: 5000 }).toEqual(['alpha']);
  }, 30_000);
});

describe('tether maint: the whole agent', () => {
  it('takes every service out, through a restart, until disabled; the reason comes as a JSON body too', async () => {
    const t = `maint-all-${Date.now()}`;
    const dir = await caseDir();
    const config = join(dir, 'tether.yaml');
    await writeFile(config, manifest(t, dir, ['alpha', 'beta']));
    let { proc, api } = await start(config);
    await expect.poll(() => ids(t), { timeout: 8000 }).toEqual(['alpha', 'beta']);

    const res = await fetch(`${api}/v1/maint?enable=true`, { method: 'PUT', body: JSON.stringify({ reason: 'kernel upgrade' }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ changed: true, agent: { reason: 'kernel upgrade' } });
    await expect.poll(() => ids(t), { timeout: 5000 }).toEqual([]);
    expect(await metricValue(api, 'tether_agent_maintenance')).toBe(1);

    await proc.stop('SIGKILL');
    ({ proc, api } = await start(config));
    await expect.poll(async () => (await status(api)).ready, { timeout: 8000 }).toBe(true);
    expect(await ids(t)).toEqual([]);
    const st = await maint(api, 'status');
    expect(st.stdout).toMatch(/^agent: in maintenance since \S+: kernel upgrade\n$/);

    expect((await maint(api, 'disable')).code).toBe(0);
    await expect.poll(() => ids(t), { timeout: 5000 }).toEqual(['alpha', 'beta']);
    expect(await metricValue(api, 'tether_agent_maintenance')).toBe(0);
  }, 40_000);

  it('an unreadable state file fails safe: agent-wide maintenance saying why, until disabled', async () => {
    const t = `maint-corrupt-${Date.now()}`;
    const dir = await caseDir();
    await mkdir(join(dir, 'state'), { recursive: true });
    await writeFile(join(dir, 'state', 'maintenance.json'), '{"agent": nul');
    const config = join(dir, 'tether.yaml');
    await writeFile(config, manifest(t, dir, ['alpha']));
    const { proc, api } = await start(config);
    await proc.waitForLog((r) => r.msg === 'maintenance state unreadable; agent-wide maintenance is on');
    await expect.poll(async () => (await status(api)).ready, { timeout: 8000 }).toBe(true);
    expect(await ids(t)).toEqual([]);
    expect((await status(api)).maintenance.agent?.reason).toMatch(/is not a maintenance state file/);
    expect((await maint(api, 'disable')).code).toBe(0);
    await expect.poll(() => ids(t), { timeout: 5000 }).toEqual(['alpha']);
    expect(JSON.parse(await readFile(join(dir, 'state', 'maintenance.json'), 'utf8'))).toEqual({ agent: null, services: {} });
  }, 30_000);
});
