import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { spawnTether, startRegistry, type Proc, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * The README's worker recipes, run as written: a `tether registry` process
 * routing events into queues, three `tether agent` processes with the
 * recipe as their manifest (plus upstream and agent), the recipe's commands
 * as scripts on their PATH that append what they got to a file. A service
 * timing out in a fleet of three agents opens exactly one ticket.
 */

let tmp: TempDir;
let registry: RegistryProc;
let client: HttpRegistry;
let bin: string;
const procs: Proc[] = [];
let seq = 0;

beforeAll(async () => {
  tmp = await createTempDir('workers-recipes');
  registry = await startRegistry(join(tmp.path, 'registry'));
  client = new HttpRegistry({ url: registry.url });
  bin = join(tmp.path, 'bin');
  await mkdir(bin);
  for (const cmd of ['lb-add', 'open-ticket', 'reconnect-pool']) {
    const script = join(bin, cmd);
    await writeFile(script, `#!/bin/sh\nline=$(cat)\nprintf '%s\\n' "$line" >> '${join(tmp.path, `${cmd}.out`)}'\n`);
    await chmod(script, 0o755);
  }
}, 60_000);

afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop('SIGKILL')));
});

afterAll(async () => {
  await client?.close();
  await registry?.stop();
  await tmp?.remove();
});

async function recipe(name: string): Promise<string> {
  const readme = await readFile(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
  const m = new RegExp(`<!-- recipe: ${name} -->\\n\`\`\`yaml\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (!m) throw new Error(`recipe ${name} not found in README.md`);
  return m[1] as string;
}

/** Three agents running the recipe; resolves once each is ready (for hooks: its first sync done, the feed followed from there). */
async function fleet(tenant: string, body: string): Promise<string[]> {
  const apis = await Promise.all(
    [0, 1, 2].map(async () => {
      const n = ++seq;
      const path = join(tmp.path, `agent-${n}.yaml`);
      await writeFile(path, `upstream:\n  url: ${registry.url}/v1.0/${tenant}\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${tmp.path}/state-${n}\n${body}`);
      const proc = spawnTether(['agent', '--config', path], { PATH: `${bin}:${process.env.PATH ?? ''}` });
      procs.push(proc);
      return (await proc.waitForLog((r) => r.msg === 'agent started', 30_000)).api as string;
    }),
  );
  for (const api of apis) await expect.poll(async () => (await fetch(`${api}/readyz`)).status, { timeout: 30_000, interval: 200 }).toBe(200);
  return apis;
}

async function route(tenant: string, id: string, body: unknown): Promise<void> {
  const res = await fetch(`${registry.url}/v1.0/${tenant}/event-routes/${id}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBe(201);
}

async function lines(cmd: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(join(tmp.path, `${cmd}.out`), 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * After the expected runs, facts that rule out a duplicate, early or late,
 * without a fixed sleep: the route delivered `n` messages, the queue is
 * empty (each was deleted), and the fleet's workers claimed `n` in all (a
 * second run would need a second claim).
 */
async function exactlyOnce(tenant: string, routeId: string, queue: string, apis: string[], n: number): Promise<void> {
  const base = `${registry.url}/v1.0/${tenant}`;
  await expect.poll(async () => ((await (await fetch(`${base}/event-routes/${routeId}`)).json()) as { delivered: number }).delivered, { timeout: 10_000 }).toBe(n);
  await expect
    .poll(async () => ((await (await fetch(`${registry.url}/v1/queues/${queue}/stats`, { headers: { 'x-project-id': tenant, 'client-id': '5c7a6f9e-0b1d-4e2f-8a3b-4c5d6e7f8091' } })).json()) as { messages: { total: number } }).messages.total, { timeout: 10_000 })
    .toBe(0);
  const claimed = async () => {
    const all = await Promise.all(apis.map(async (api) => ((await (await fetch(`${api}/v1/status`)).json()) as { workers: Array<{ claimed: number; in_flight: number }> }).workers));
    return all.flat().reduce((sum, w) => sum + w.claimed, 0);
  };
  expect(await claimed()).toBe(n);
}

describe('README worker recipes (three agents)', () => {
  it('ticket on timeout: a service timing out opens exactly one ticket', async () => {
    await route('recipes-t', 'timeouts', { queue: 'timeouts', types: ['service.timeout'] });
    const apis = await fleet('recipes-t', await recipe('ticket-on-timeout'));
    await client.createService('recipes-t', { id: 'short-lived', tags: ['web'], metadata: {}, heartbeat_timeout: 3 });
    await expect.poll(async () => (await lines('open-ticket')).length, { timeout: 60_000, interval: 250 }).toBe(1);
    await exactlyOnce('recipes-t', 'timeouts', 'timeouts', apis, 1);
    const runs = await lines('open-ticket');
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ queue: 'timeouts', attempt: 1, body: { type: 'service.timeout', payload: { id: 'short-lived' } } });
  }, 120_000);

  it('load balancer on join: each web service joining is added once; other tags are not', async () => {
    await route('recipes-lb', 'joins', { queue: 'lb-joins', types: ['service.join'], service_tags: ['web'] });
    const apis = await fleet('recipes-lb', await recipe('lb-on-join'));
    for (const [id, tag] of [['web-1', 'web'], ['db-1', 'db'], ['web-2', 'web']] as const) {
      await client.createService('recipes-lb', { id, tags: [tag], metadata: {}, heartbeat_timeout: 60 });
    }
    await expect.poll(async () => (await lines('lb-add')).length, { timeout: 60_000, interval: 250 }).toBe(2);
    await exactlyOnce('recipes-lb', 'joins', 'lb-joins', apis, 2);
    const runs = await lines('lb-add');
    expect(runs.map((r) => (r.body as { payload: { id: string } }).payload.id).sort()).toEqual(['web-1', 'web-2']);
  }, 120_000);

  it('reconnect on configuration change: every agent reconnects its own pool once per change under the prefix', async () => {
    await fleet('recipes-cfg', await recipe('reconnect-on-change'));
    await client.setConfig('recipes-cfg', '/app/other-thing', { value: 'x' });
    await client.setConfig('recipes-cfg', '/app/database/host', { value: 'db2.internal' });
    await expect.poll(async () => (await lines('reconnect-pool')).length, { timeout: 60_000, interval: 250 }).toBe(3);
    // Each agent runs hooks in feed order: once all three ran the next change's hook, a duplicate of the first would be in.
    await client.setConfig('recipes-cfg', '/app/database/port', { value: '5433' });
    await expect.poll(async () => (await lines('reconnect-pool')).length, { timeout: 60_000, interval: 250 }).toBeGreaterThanOrEqual(6);
    const runs = await lines('reconnect-pool');
    expect(runs).toHaveLength(6);
    const keys = runs.map((r) => (r.type === 'configuration_value.update' ? (r.payload as { configuration_value_id: string }).configuration_value_id : `other ${String(r.type)}`));
    expect(keys.filter((k) => k === '/app/database/host')).toHaveLength(3);
    expect(keys.filter((k) => k === '/app/database/port')).toHaveLength(3);
  }, 120_000);
});
