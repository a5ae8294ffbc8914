import { mkdir, open, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { spawnTether, startRegistry, type Proc, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * Issue 18 item 1, end to end (real registry, real agent, real files): a bad
 * edit changes nothing, a manifest is applied once its writes settled, and a
 * manifest replaced the ways editors and tools replace files is followed
 * without SIGHUP.
 */

let tmp: TempDir;
let registry: RegistryProc;
let client: HttpRegistry;
const procs: Proc[] = [];
let seq = 0;

beforeAll(async () => {
  tmp = await createTempDir('agent-reload');
  registry = await startRegistry(join(tmp.path, 'registry'));
  client = new HttpRegistry({ url: registry.url });
});
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop('SIGKILL')));
});
afterAll(async () => {
  await client.close();
  await registry.stop();
  await tmp.remove();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ids = async (tenant: string) => (await client.listServices(tenant)).values.map((s) => s.id).sort();
const logged = (proc: Proc, msg: string) => proc.log.filter((l) => l.includes(`"msg":"${msg}`)).length;

async function caseDir(): Promise<string> {
  const dir = join(tmp.path, `case-${++seq}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

function head(tenant: string, dir: string): string {
  return `upstream:\n  url: ${registry.url}/v1.0/${tenant}\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${dir}/state\n`;
}
const services = (...names: string[]) => `services:\n${names.map((n) => `  - id: ${n}\n`).join('')}`;

async function start(config: string): Promise<{ proc: Proc; api: string }> {
  const proc = spawnTether(['agent', '--config', config]);
  procs.push(proc);
  const rec = await proc.waitForLog((r) => r.msg === 'agent started');
  return { proc, api: rec.api as string };
}

describe('reload: a bad edit changes nothing', () => {
  it('refuses an emptied or truncated manifest at reload, start and validate alike; services stay registered', async () => {
    const t = `empty-${Date.now()}`;
    const dir = await caseDir();
    const config = join(dir, 'tether.yaml');
    const full = `${head(t, dir)}${services('alpha', 'beta')}`;
    await writeFile(config, full);
    const { proc, api } = await start(config);
    await expect.poll(() => ids(t), { timeout: 5000 }).toEqual(['alpha', 'beta']);

    await writeFile(config, '');
    await proc.waitForLog((r) => String(r.msg).startsWith('manifest change rejected'), 8000);
    const status = (await (await fetch(`${api}/v1/status`)).json()) as { manifest: { issues: Array<{ message: string; line: number }> } };
    expect(status.manifest.issues[0]).toMatchObject({ line: 1, message: expect.stringMatching(/file is empty/) });
    expect(await ids(t)).toEqual(['alpha', 'beta']);

    // Truncated mid-way (a full disk, a killed writer): refused too.
    await writeFile(config, full.slice(0, full.indexOf('agent:') + 9));
    await expect.poll(() => logged(proc, 'manifest change rejected'), { timeout: 8000 }).toBe(2);
    expect(await ids(t)).toEqual(['alpha', 'beta']);

    // The same empty file: validate and start refuse it with the same issue.
    await writeFile(config, '');
    const validate = spawnTether(['validate', '--config', config]);
    expect((await validate.exited).code).toBe(1);
    expect(validate.stdout()).toMatch(/tether\.yaml:1:1: the file is empty/);
    const again = spawnTether(['agent', '--config', config]);
    expect((await again.exited).code).not.toBe(0);
    expect(again.log.join('\n')).toMatch(/the file is empty/);
    expect(await ids(t)).toEqual(['alpha', 'beta']);
  }, 40_000);

  it('a file cut just before its services (it still parses) is refused from the watcher; SIGHUP applies it on purpose', async () => {
    const t = `cut-${Date.now()}`;
    const dir = await caseDir();
    const config = join(dir, 'tether.yaml');
    await writeFile(config, `${head(t, dir)}${services('alpha', 'beta')}`);
    const { proc } = await start(config);
    await expect.poll(() => ids(t), { timeout: 5000 }).toEqual(['alpha', 'beta']);

    await writeFile(config, head(t, dir));
    await proc.waitForLog((r) => String(r.msg).startsWith('manifest change rejected'), 8000);
    expect(proc.log.join('\n')).toMatch(/removes all 2 services; apply it with SIGHUP/);
    expect(await ids(t)).toEqual(['alpha', 'beta']);

    proc.child.kill('SIGHUP');
    await expect.poll(() => ids(t), { timeout: 8000 }).toEqual([]);
  }, 30_000);

  it.each([300, 700])('applies a manifest written in two parts with a %i ms pause once, whole', async (pause) => {
    const t = `two-part-${pause}-${Date.now()}`;
    const dir = await caseDir();
    const config = join(dir, 'tether.yaml');
    await writeFile(config, `${head(t, dir)}${services('alpha', 'beta')}`);
    const { proc } = await start(config);
    await expect.poll(() => ids(t), { timeout: 5000 }).toEqual(['alpha', 'beta']);

    // The first part alone is a valid manifest without beta: applied, it would deregister beta.
    const fh = await open(config, 'w');
    await fh.write(`${head(t, dir)}${services('alpha')}`);
    await sleep(pause);
    await fh.write(`  - id: beta\n  - id: gamma\n`);
    await fh.close();
    await expect.poll(() => ids(t), { timeout: 8000 }).toEqual(['alpha', 'beta', 'gamma']);
    await expect.poll(() => logged(proc, 'manifest reloaded'), { timeout: 3000 }).toBeGreaterThan(0);
    expect(logged(proc, 'manifest reloaded')).toBe(1);
    expect(proc.log.join('\n')).not.toMatch(/"removed":[1-9]/);
  }, 30_000);
});

describe('reload: follows a replaced manifest without SIGHUP', () => {
  it('rename over it, delete and create, the editor backup dance, with a template in use', async () => {
    const t = `replace-${Date.now()}`;
    await client.setConfig(t, '/app/web/title', { value: 'Hello' });
    const dir = await caseDir();
    const tpl = join(dir, 'page.liquid');
    await writeFile(tpl, '<h1>{{ web.title }}</h1>\n');
    const config = join(dir, 'tether.yaml');
    const body = (...names: string[]) =>
      `${head(t, dir)}files:\n  - path: ${dir}/page.html\n    from: { web: { namespace: /app/web } }\n    template: ${tpl}\n${services(...names)}`;
    await writeFile(config, body('svc-a'));
    await start(config);
    await expect.poll(() => ids(t), { timeout: 5000 }).toEqual(['svc-a']);
    await expect.poll(() => readFile(join(dir, 'page.html'), 'utf8').catch(() => null), { timeout: 5000 }).toBe('<h1>Hello</h1>\n');

    // Atomic save: write a temp file, rename it over the manifest.
    await writeFile(`${config}.tmp`, body('svc-a', 'svc-b'));
    await rename(`${config}.tmp`, config);
    await expect.poll(() => ids(t), { timeout: 8000 }).toEqual(['svc-a', 'svc-b']);

    // Delete, then create again a moment later.
    await unlink(config);
    await sleep(200);
    await writeFile(config, body('svc-a', 'svc-b', 'svc-c'));
    await expect.poll(() => ids(t), { timeout: 8000 }).toEqual(['svc-a', 'svc-b', 'svc-c']);

    // Editor backup dance (vim's backupcopy=no): move to a backup, write anew, drop the backup.
    await rename(config, `${config}~`);
    await writeFile(config, body('svc-a', 'svc-b', 'svc-c', 'svc-d'));
    await unlink(`${config}~`);
    await expect.poll(() => ids(t), { timeout: 8000 }).toEqual(['svc-a', 'svc-b', 'svc-c', 'svc-d']);

    // The template is still followed after all that.
    await writeFile(tpl, '<h2>{{ web.title }}</h2>\n');
    await expect.poll(() => readFile(join(dir, 'page.html'), 'utf8').catch(() => null), { timeout: 8000 }).toBe('<h2>Hello</h2>\n');
  }, 60_000);

  it('a Kubernetes ConfigMap update (the ..data symlink swapped)', async () => {
    const t = `configmap-${Date.now()}`;
    const dir = await caseDir();
    const mount = join(dir, 'mount');
    await mkdir(join(mount, '..2026_01'), { recursive: true });
    await writeFile(join(mount, '..2026_01', 'tether.yaml'), `${head(t, dir)}${services('one')}`);
    await symlink('..2026_01', join(mount, '..data'));
    await symlink('..data/tether.yaml', join(mount, 'tether.yaml'));
    await start(join(mount, 'tether.yaml'));
    await expect.poll(() => ids(t), { timeout: 5000 }).toEqual(['one']);

    // What the kubelet does: a new timestamped dir, a new ..data link renamed over the old one, the old dir removed.
    await mkdir(join(mount, '..2026_02'));
    await writeFile(join(mount, '..2026_02', 'tether.yaml'), `${head(t, dir)}${services('one', 'two')}`);
    await symlink('..2026_02', join(mount, '..data_tmp'));
    await rename(join(mount, '..data_tmp'), join(mount, '..data'));
    await rm(join(mount, '..2026_01'), { recursive: true });
    await expect.poll(() => ids(t), { timeout: 8000 }).toEqual(['one', 'two']);
  }, 30_000);
});
