import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpQueues } from '../../src/client/queues.js';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { freePort } from '../helpers/ports.js';
import { spawnTether, startRegistry, type Proc, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * Queue actions through the real interface (review 16 S5): an agent process
 * whose file `on_change` and hook are queue actions posts through its own
 * queues client (token from `token_file`, on a registry with --auth-file),
 * and a second agent's worker runs each message once. A configuration
 * change so starts fleet-wide work. Also `tether dev`: its event routes and
 * in-process queues drive a worker.
 */

const TENANT = 'acts';
const TOKEN = 'queue-action-t0ken-value';
let tmp: TempDir;
let registry: RegistryProc;
const procs: Proc[] = [];

beforeAll(async () => {
  tmp = await createTempDir('workers-actions');
  const auth = join(tmp.path, 'auth.yaml');
  await writeFile(auth, `tokens:\n  - { token: "${TOKEN}", tenant: "${TENANT}" }\n`);
  await writeFile(join(tmp.path, 'token'), `${TOKEN}\n`);
  registry = await startRegistry(join(tmp.path, 'registry'), 0, ['--auth-file', auth]);
}, 60_000);

afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop()));
});

afterAll(async () => {
  await registry?.stop();
  await tmp?.remove();
});

/** An exec worker action appending its stdin as one line to `out`. */
function appendTo(out: string): string {
  return JSON.stringify(`line=$(cat); printf '%s\\n' "$line" >> '${out}'`);
}

async function agent(name: string, body: string, args: string[] = []): Promise<{ proc: Proc; api: string }> {
  const path = join(tmp.path, `${name}.yaml`);
  await writeFile(path, `upstream:\n  url: ${registry.url}/v1.0/${TENANT}\n  token_file: ${join(tmp.path, 'token')}\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${join(tmp.path, `state-${name}`)}\n${body}`);
  const proc = spawnTether(['agent', '--config', path, ...args]);
  procs.push(proc);
  const api = (await proc.waitForLog((r) => r.msg === 'agent started', 30_000)).api as string;
  await expect.poll(async () => (await fetch(`${api}/readyz`)).status, { timeout: 30_000, interval: 200 }).toBe(200);
  return { proc, api };
}

async function lines(file: string): Promise<Array<{ id: string; attempt: number; body: Record<string, unknown> }>> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { id: string; attempt: number; body: Record<string, unknown> });
}

describe('queue actions from an agent process', () => {
  it('a configuration change: the file on_change and the hook each post once (token from token_file); another agent\'s worker runs each once', async () => {
    const out = join(tmp.path, 'fanout.out');
    const level = join(tmp.path, 'level.txt');
    const poster = await agent(
      'poster',
      `files:
  - path: ${level}
    from: { key: /app/level }
    format: raw
    on_change: { queue: fanout, body: '{"by": "file", "path": "${level}"}' }
hooks:
  - on: [configuration_value.update]
    filter: { key_prefix: /app/ }
    action: { queue: fanout, body: '{"by": "hook", "key": "{{ input.payload.configuration_value_id }}", "value": "{{ input.payload.new_value }}"}' }
`,
      ['--log-level', 'trace'],
    );
    const worker = await agent('worker', `workers:\n  - name: fanout\n    queue: fanout\n    ttl: 60s\n    action:\n      exec: [sh, -c, ${appendTo(out)}]\n`);
    const client = new HttpRegistry({ url: registry.url, token: TOKEN });
    try {
      await client.setConfig(TENANT, '/app/level', { value: 'debug' });
    } finally {
      await client.close();
    }
    await expect.poll(async () => (await lines(out)).length, { timeout: 30_000, interval: 200 }).toBe(2);
    expect(await readFile(level, 'utf8')).toBe('debug');
    const got = (await lines(out)).map((l) => l.body).sort((a, b) => String(a.by).localeCompare(String(b.by)));
    expect(got).toEqual([
      { by: 'file', path: level },
      { by: 'hook', key: '/app/level', value: 'debug' },
    ]);
    expect((await lines(out)).every((l) => l.attempt === 1)).toBe(true);
    // Once each: the queue is empty, the worker claimed exactly the two.
    const queues = new HttpQueues({ url: registry.url, token: TOKEN });
    try {
      await expect.poll(async () => (await queues.getStats(TENANT, 'fanout')).total, { timeout: 10_000 }).toBe(0);
    } finally {
      await queues.close();
    }
    const status = (await (await fetch(`${worker.api}/v1/status`)).json()) as { workers: Array<{ claimed: number; succeeded: number }> };
    expect(status.workers[0]).toMatchObject({ claimed: 2, succeeded: 2 });
    // The token went out as a header, never into a log line (trace level).
    await poster.proc.stop();
    expect(poster.proc.log.join('\n')).not.toContain(TOKEN);
  }, 120_000);
});

describe('tether dev: event routes and workers', () => {
  it('an event route set on the dev server feeds the manifest\'s worker through the embedded queues', async () => {
    const out = join(tmp.path, 'dev.out');
    const port = await freePort();
    const dir = join(tmp.path, 'dev');
    await mkdir(dir, { recursive: true });
    const path = join(dir, 'dev.yaml');
    await writeFile(
      path,
      `upstream:\n  url: http://127.0.0.1:${port}/v1.0/devt\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${join(dir, 'state')}\nworkers:\n  - name: changes\n    queue: changes\n    filter: { key_prefix: /dev/ }\n    action:\n      exec: [sh, -c, ${appendTo(out)}]\n`,
    );
    const dev = spawnTether(['dev', '--config', path, '--data', join(dir, 'data'), '--log-format', 'json']);
    procs.push(dev);
    await dev.waitForLog((r) => r.msg === 'agent started', 30_000);
    const base = `http://127.0.0.1:${port}/v1.0/devt`;
    const res = await fetch(`${base}/event-routes/changes`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ queue: 'changes', types: ['configuration_value.update'] }) });
    expect(res.status).toBe(201);
    const set = await fetch(`${base}/configuration/dev/flag`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: 'on' }) });
    expect(set.status).toBeLessThan(300);
    await expect.poll(async () => (await lines(out)).length, { timeout: 30_000, interval: 200 }).toBe(1);
    const [line] = await lines(out);
    expect(line?.body).toMatchObject({ type: 'configuration_value.update', payload: { configuration_value_id: '/dev/flag', new_value: 'on' } });
    await expect.poll(async () => ((await (await fetch(`${base}/event-routes/changes`)).json()) as { delivered: number }).delivered, { timeout: 10_000 }).toBe(1);
    const { code } = await dev.stop('SIGINT');
    expect(code).toBe(0);
  }, 120_000);
});
