import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnTether, type Proc } from '../helpers/procs.js';
import type { FloorStatus } from '../../src/materialize/floor.js';
import { useRegistry } from '../helpers/agent-env.js';

/**
 * Issue 18 item 8, end to end (real registry, real agent, real files):
 * a services source with a floor keeps its last good list when the list
 * drops below it (a wiped registry, a mass timeout), says so in status, a
 * metric and a warning, and renders the list again once it meets the floor.
 */

const env = useRegistry('floors');
const { procs } = env;


interface Status {
  files: Array<{ path: string; ok: boolean | null; floor: { state: 'ok' | 'held'; sources: FloorStatus[] } | null }>;
}

const add = (t: string, id: string, tag: string, timeout = 120) => env.client.createService(t, { id, tags: [tag], metadata: {}, heartbeat_timeout: timeout });
const listed = async (file: string): Promise<string[] | null> => {
  try {
    return (JSON.parse(await readFile(file, 'utf8')) as Array<{ id: string }>).map((s) => s.id);
  } catch {
    return null;
  }
};

async function start(t: string, dir: string, floor: string, extra = ''): Promise<{ proc: Proc; api: string; file: string; config: string }> {
  const file = join(dir, 'web.json');
  const config = join(dir, 'tether.yaml');
  await writeFile(
    config,
    `upstream:\n  url: ${env.registry.url}/v1.0/${t}\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${dir}/state\n` +
      `files:\n  - path: ${file}\n    from: { services: { tag: web, floor: ${floor} } }\n${extra}`,
  );
  const proc = spawnTether(['agent', '--config', config]);
  procs.push(proc);
  const api = (await proc.waitForLog((r) => r.msg === 'agent started')).api as string;
  return { proc, api, file, config };
}

const fileStatus = async (api: string) => ((await (await fetch(`${api}/v1/status`)).json()) as Status).files[0];
async function heldMetric(api: string, file: string): Promise<number> {
  const text = await (await fetch(`${api}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`tether_file_floor_held{file="${file}"}`));
  return line ? Number(line.split(' ').pop()) : NaN;
}

describe('service-list floors', () => {
  it('a wipe arriving as a stream of removals is held against the list it started from (file, status, metric, one warning), then released', async () => {
    const t = `floor-wipe-${Date.now()}`;
    for (const id of ['web-1', 'web-2', 'web-3', 'web-4']) await add(t, id, 'web');
    const dir = join(env.tmp.path, t);
    await mkdir(dir, { recursive: true });
    const { proc, api, file } = await start(t, dir, '{ min: 2, percent: 60 }');
    await expect.poll(() => listed(file), { timeout: 8000 }).toEqual(['web-1', 'web-2', 'web-3', 'web-4']);
    expect(await fileStatus(api)).toMatchObject({
      floor: { state: 'ok', sources: [{ source: 'services', state: 'ok', count: 4, kept: 4, reference: 4, min: 2, percent: 60, since: null }] },
    });
    expect(await heldMetric(api, file)).toBe(0);

    // A wipe: three of four removed one after another (each its own event). 3 of 4 passes 60 %;
    // 2 (or 1) fails it against 4, the list the wipe started from, not against the 3 just before.
    for (const id of ['web-2', 'web-3', 'web-4']) await env.client.deleteService(t, id);
    await expect.poll(async () => (await fileStatus(api))?.floor?.sources[0], { timeout: 5000 }).toMatchObject({ state: 'held', count: 1, reference: 4 });
    const kept = (await fileStatus(api))?.floor?.sources[0]?.kept as number;
    expect(kept).toBeGreaterThanOrEqual(3);
    expect((await listed(file))?.length).toBe(kept);
    expect(await heldMetric(api, file)).toBe(1);
    const warn = await proc.waitForLog((r) => r.msg === 'service list below its floor; keeping the last good list');
    expect(warn).toMatchObject({ level: 'warn', kept, reference: 4, min: 2, percent: 60, files: [file] });

    // 2 of 4 still fails 60 %; 3 of 4 meets it: released, and the list is rendered as it is.
    await add(t, 'web-5', 'web');
    await expect.poll(async () => (await fileStatus(api))?.floor?.sources[0]?.count, { timeout: 5000 }).toBe(2);
    expect((await fileStatus(api))?.floor?.state).toBe('held');
    await add(t, 'web-6', 'web');
    await expect.poll(() => listed(file), { timeout: 5000 }).toEqual(['web-1', 'web-5', 'web-6']);
    expect((await fileStatus(api))?.floor).toMatchObject({ state: 'ok', sources: [{ count: 3, kept: 3, since: null }] });
    expect(await heldMetric(api, file)).toBe(0);
    await proc.waitForLog((r) => r.msg === 'service list meets its floor again; rendering it');
    expect(proc.log.filter((l) => l.includes('below its floor')).length).toBe(1);
  }, 40_000);

  it('percent alone holds a mass timeout (services not heartbeated expire together)', async () => {
    const t = `floor-timeout-${Date.now()}`;
    await add(t, 'web-a', 'web');
    await add(t, 'web-b', 'web');
    for (const id of ['web-c', 'web-d', 'web-e', 'web-f']) await add(t, id, 'web', 3);
    const dir = join(env.tmp.path, t);
    await mkdir(dir, { recursive: true });
    const { api, file } = await start(t, dir, '{ percent: 70 }');
    await expect.poll(async () => (await listed(file))?.length, { timeout: 8000 }).toBe(6);
    // The four expire about 3 s after they were created (in one reaper pass or a few): 2 of 6 is under 70 %.
    await expect.poll(async () => (await fileStatus(api))?.floor?.sources[0], { timeout: 15_000 }).toMatchObject({ state: 'held', count: 2, reference: 6 });
    const kept = (await fileStatus(api))?.floor?.sources[0]?.kept as number;
    expect(kept).toBeGreaterThanOrEqual(5);
    expect((await listed(file))?.length).toBe(kept);
    // Back to 5 of 6 (83 %): released.
    for (const id of ['web-g', 'web-h', 'web-i']) await add(t, id, 'web');
    await expect.poll(() => listed(file), { timeout: 5000 }).toEqual(['web-a', 'web-b', 'web-g', 'web-h', 'web-i']);
    expect((await fileStatus(api))?.floor?.state).toBe('ok');
  }, 40_000);

  it('at start, a list below min leaves the file on disk as it is (even with on_missing: delete); status says held', async () => {
    const t = `floor-start-${Date.now()}`;
    await add(t, 'web-1', 'web');
    const dir = join(env.tmp.path, t);
    await mkdir(dir, { recursive: true });
    const before = '[{"id":"web-1"},{"id":"web-2"},{"id":"web-3"}]\n';
    await writeFile(join(dir, 'web.json'), before);
    const { proc, api, file } = await start(t, dir, '{ min: 2 }', '    on_missing: delete\n');
    await expect.poll(async () => (await fileStatus(api))?.floor?.sources[0], { timeout: 8000 }).toMatchObject({ state: 'held', count: 1, kept: null });
    expect(await readFile(file, 'utf8')).toBe(before);
    await proc.waitForLog((r) => r.msg === 'service list below its floor; keeping the last good list' && r.kept === null);
    await add(t, 'web-2', 'web');
    await expect.poll(() => listed(file), { timeout: 5000 }).toEqual(['web-1', 'web-2']);
  }, 30_000);

  it('a restart measures percent against the size its previous run saved: a list wiped meanwhile leaves the file as it was', async () => {
    const t = `floor-restart-${Date.now()}`;
    for (const id of ['web-1', 'web-2', 'web-3', 'web-4']) await add(t, id, 'web');
    const dir = join(env.tmp.path, t);
    await mkdir(dir, { recursive: true });
    const first = await start(t, dir, '{ percent: 50 }');
    await expect.poll(() => listed(first.file), { timeout: 8000 }).toEqual(['web-1', 'web-2', 'web-3', 'web-4']);
    await expect.poll(async () => JSON.parse(await readFile(join(dir, 'state', 'floors.json'), 'utf8').catch(() => '{}')), { timeout: 5000 }).toMatchObject({
      sizes: { 'svc:web::floor=/50/60000': 4 },
    });
    expect((await first.proc.stop('SIGTERM')).code).toBe(0);
    const before = await readFile(first.file, 'utf8');

    for (const id of ['web-2', 'web-3', 'web-4']) await env.client.deleteService(t, id);
    const { api, file } = await start(t, dir, '{ percent: 50 }');
    await expect.poll(async () => (await fileStatus(api))?.floor?.sources[0], { timeout: 8000 }).toMatchObject({ state: 'held', count: 1, kept: 4, reference: 4 });
    expect(await readFile(file, 'utf8')).toBe(before);
    await add(t, 'web-5', 'web');
    await add(t, 'web-6', 'web');
    await expect.poll(() => listed(file), { timeout: 5000 }).toEqual(['web-1', 'web-5', 'web-6']);
    expect((await fileStatus(api))?.floor?.state).toBe('ok');
  }, 40_000);

  it('validate reports a floor without min or percent, and out-of-range values, at file:line:column', async () => {
    const dir = join(env.tmp.path, 'validate');
    await mkdir(dir, { recursive: true });
    const config = join(dir, 'tether.yaml');
    await writeFile(
      config,
      'files:\n' +
        '  - path: a.json\n    from: { services: { tag: web, floor: {} } }\n' +
        '  - path: b.json\n    from:\n      services:\n        floor: { min: 0, percent: 101 }\n' +
        'services:\n  - id: api\n    deregister_critical_after: 10s\n    check: { tcp: "127.0.0.1:1" }\n' +
        '  - id: api2\n    on_unhealthy: keep\n    deregister_critical_after: 10ms\n',
    );
    const v = spawnTether(['validate', '--config', config]);
    expect((await v.exited).code).toBe(1);
    const out = v.stdout();
    expect(out).toContain(`${config}:3:42: files[0].from.services.floor: needs min, percent or both`);
    expect(out).toMatch(new RegExp(`${config}:7:23: files\\[1\\]\\.from\\.services\\.floor\\.min: `));
    expect(out).toMatch(new RegExp(`${config}:7:35: files\\[1\\]\\.from\\.services\\.floor\\.percent: `));
    expect(out).toContain(`${config}:10:32: services[0].deregister_critical_after: applies only with on_unhealthy: keep`);
    expect(out).toContain(`${config}:14:32: services[1].deregister_critical_after: must be at least 1s`);
    expect(out).toContain(`${config}:14:32: services[1].deregister_critical_after: needs a check`);
  }, 20_000);
});
