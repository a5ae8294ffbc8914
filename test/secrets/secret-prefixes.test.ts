import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnTether, startRegistry, type Proc, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { que, reg } from '../quota/wire.js';

/**
 * Secret prefixes end to end: a real registry process, the CLI, an event
 * route into a queue, and a real agent process rendering files and running a hook.
 */

const SECRET = 'hunter2-Sup3rSecret';
const MARKER = '/_tether/secret_prefixes';
let tmp: TempDir;
let registry: RegistryProc;
const procs: Proc[] = [];

beforeAll(async () => {
  tmp = await createTempDir('secrets');
  registry = await startRegistry(join(tmp.path, 'registry'));
});
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop('SIGKILL')));
});
afterAll(async () => {
  await registry.stop();
  await tmp.remove();
});

const setValue = (t: string, id: string, value: string) => reg(registry.url, 'PUT', `/${t}/configuration${id}`, { value });
const read = (p: string) => readFile(p, 'utf8').catch(() => null);

describe('secret prefixes over HTTP', () => {
  it('events of a secret key carry no value (update and remove), GET still returns it, other keys are unchanged', async () => {
    const t = `sec-${Date.now()}`;
    expect((await setValue(t, MARKER, JSON.stringify(['/prod/vault/']))).status).toBe(204);
    // An event route into a queue: what it delivers must not hold the secret either.
    expect((await reg(registry.url, 'PUT', `/${t}/event-routes/all`, { queue: 'feed' })).status).toBe(201);
    expect((await setValue(t, '/prod/vault/password', SECRET)).status).toBe(204);
    expect((await setValue(t, '/prod/app/level', 'debug')).status).toBe(204);
    expect((await reg(registry.url, 'DELETE', `/${t}/configuration/prod/vault/password`)).status).toBe(204);
    expect((await setValue(t, '/prod/vault/password', `${SECRET}-2`)).status).toBe(204);

    const events = await reg(registry.url, 'GET', `/${t}/events`);
    expect(events.text).not.toContain('hunter2');
    const values = (events.json() as { values: Array<{ type: string; payload: Record<string, unknown> }> }).values;
    const secretOnes = values.filter((e) => e.payload.configuration_value_id === '/prod/vault/password');
    expect(secretOnes.map((e) => e.type)).toEqual(['configuration_value.update', 'configuration_value.remove', 'configuration_value.update']);
    expect(secretOnes[0]?.payload).toEqual({ old_value: null, new_value: null, configuration_value_id: '/prod/vault/password', secret: true });
    expect(secretOnes[1]?.payload).toEqual({ old_value: null, configuration_value_id: '/prod/vault/password', secret: true });
    expect(values.find((e) => e.payload.configuration_value_id === '/prod/app/level')?.payload).toEqual({
      old_value: null,
      new_value: 'debug',
      configuration_value_id: '/prod/app/level',
    });
    expect((await reg(registry.url, 'GET', `/${t}/configuration/prod/vault/password`)).json()).toEqual({ id: '/prod/vault/password', value: `${SECRET}-2` });

    // The route delivered every event, none with the value.
    await expect
      .poll(async () => (await que(registry.url, t, 'GET', '/queues/feed/messages?echo=true&limit=20')).text, { timeout: 10_000 })
      .toContain('/prod/app/level');
    const delivered = await que(registry.url, t, 'GET', '/queues/feed/messages?echo=true&limit=20');
    expect(delivered.text).toContain('/prod/vault/password');
    expect(delivered.text).not.toContain('hunter2');

    // `tether events` says the value is not shown.
    const cli = spawnTether(['events', '--url', `${registry.url}/v1.0/${t}`]);
    await cli.exited;
    expect(cli.stdout()).toContain('(secret: value not shown)');
    expect(cli.stdout()).toContain('"debug"');
    expect(cli.stdout()).not.toContain('hunter2');
    // Nor did the server log it.
    expect(registry.log.join('\n')).not.toContain('hunter2');
  });

  it('refuses a marker value that is not a JSON list of prefixes, with a validation fault', async () => {
    const bad = await setValue(`sec-bad-${Date.now()}`, MARKER, '/prod/vault/');
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ type: 'badRequest', message: "Validation error for key 'value'" });
  });
});

describe('secret prefixes with a real agent', () => {
  it('renders a secret key fetched directly, 0600 unless the manifest gives a mode, follows its changes, and keeps it out of hook stdin', async () => {
    const t = `sec-agent-${Date.now()}`;
    expect((await setValue(t, MARKER, JSON.stringify(['/prod/vault/']))).status).toBe(204);
    expect((await setValue(t, '/prod/vault/password', SECRET)).status).toBe(204);
    expect((await setValue(t, '/prod/app/level', 'debug')).status).toBe(204);
    const dir = join(tmp.path, t);
    await mkdir(dir, { recursive: true });
    const hookLog = join(dir, 'hook.log');
    const config = join(dir, 'tether.yaml');
    await writeFile(
      config,
      `upstream:\n  url: ${registry.url}/v1.0/${t}\n  timeout: 1s\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${dir}/state\n` +
        `files:\n  - path: out/password\n    from: { key: /prod/vault/password }\n  - path: out/db.json\n    from: { namespace: /prod/vault }\n    mode: "0640"\n  - path: out/vault.env\n    from: { namespace: /prod/vault }\n    format: env\n  - path: out/level\n    from: { key: /prod/app/level }\n` +
        `hooks:\n  - on: [configuration_value.update]\n    action: { exec: [/bin/sh, -c, "cat >> ${hookLog}; echo >> ${hookLog}"] }\n`,
    );
    const agent = spawnTether(['agent', '--config', config]);
    procs.push(agent);
    await agent.waitForLog((r) => r.msg === 'agent started');
    const out = (name: string) => join(dir, 'out', name);
    await expect.poll(() => read(out('password')), { timeout: 10_000 }).toBe(SECRET);
    expect((await stat(out('password'))).mode & 0o777).toBe(0o600);
    expect((await stat(out('db.json'))).mode & 0o777).toBe(0o640);
    // A namespace holding a secret key, without a mode in the manifest: 0600.
    await expect.poll(() => read(out('vault.env')), { timeout: 10_000 }).toContain(SECRET);
    expect((await stat(out('vault.env'))).mode & 0o777).toBe(0o600);
    expect((await stat(out('level'))).mode & 0o777).not.toBe(0o600);

    // A change arrives as a value-less event: the agent GETs the key and renders it.
    await new Promise((r) => setTimeout(r, 300));
    expect((await setValue(t, '/prod/vault/password', `${SECRET}-rotated`)).status).toBe(204);
    await expect.poll(() => read(out('password')), { timeout: 10_000 }).toBe(`${SECRET}-rotated`);
    await expect.poll(async () => JSON.parse((await read(out('db.json'))) ?? '{}') as unknown, { timeout: 10_000 }).toEqual({ password: `${SECRET}-rotated` });
    expect((await stat(out('password'))).mode & 0o777).toBe(0o600);
    await expect.poll(() => read(hookLog), { timeout: 10_000 }).toContain('/prod/vault/password');
    const hooked = (await read(hookLog)) as string;
    expect(hooked).toContain('"secret":true');
    expect(hooked).not.toContain('hunter2');
    expect(agent.log.join('\n')).not.toContain('hunter2');

    // A key marked secret later: its next change is fetched too, and its file becomes 0600.
    expect((await setValue(t, MARKER, JSON.stringify(['/prod/vault/', '/prod/app/']))).status).toBe(204);
    expect((await setValue(t, '/prod/app/level', 'info-hidden')).status).toBe(204);
    await expect.poll(() => read(out('level')), { timeout: 10_000 }).toBe('info-hidden');
    expect((await stat(out('level'))).mode & 0o777).toBe(0o600);
    expect(await read(hookLog)).not.toContain('info-hidden');
  });
});
