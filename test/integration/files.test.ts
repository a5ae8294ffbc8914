import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { spawnTether, startRegistry, type Proc, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * Configuration and discovery into files, end to end: a real registry
 * process, a real agent process, real files and real reload commands.
 */

let tmp: TempDir;
let registry: RegistryProc;
let client: HttpRegistry;
const procs: Proc[] = [];
let seq = 0;

beforeAll(async () => {
  tmp = await createTempDir('files-it');
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

const read = (p: string) => readFile(p, 'utf8').catch(() => null);

async function agentWith(tenant: string, body: string, url = registry.url): Promise<{ proc: Proc; api: string; dir: string; config: string }> {
  const dir = join(tmp.path, `case-${++seq}`);
  await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
  const config = join(dir, 'tether.yaml');
  await writeFile(config, `upstream:\n  url: ${url}/v1.0/${tenant}\n  timeout: 1s\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${dir}/state\n${body}`);
  const proc = spawnTether(['agent', '--config', config]);
  procs.push(proc);
  const rec = await proc.waitForLog((r) => r.msg === 'agent started');
  return { proc, api: rec.api as string, dir, config };
}

describe('files', () => {
  it('renders a key (raw), a namespace (json, env) and services by tag (template), and follows changes', async () => {
    const t = `files-${Date.now()}`;
    await client.setConfig(t, '/production/cassandra/listen_ip', { value: '10.0.0.1' });
    await client.setConfig(t, '/production/cassandra/listen_port', { value: '9042' });
    await client.createService(t, { id: 'api-1', heartbeat_timeout: 120, tags: ['api'], metadata: { address: '10.1.0.1:8080' } });
    await client.createService(t, { id: 'db-1', heartbeat_timeout: 120, tags: ['db'] });
    const dir0 = join(tmp.path, 'tpl');
    await import('node:fs/promises').then((fs) => fs.mkdir(dir0, { recursive: true }));
    await writeFile(join(dir0, 'upstreams.liquid'), 'upstream api {\n{% for s in api %}  server {{ s.metadata.address }};\n{% endfor %}}\n');
    const { dir } = await agentWith(
      t,
      `files:
  - path: out/listen_ip
    from: { key: /production/cassandra/listen_ip }
  - path: out/cassandra.json
    from: { namespace: /production/cassandra/ }
    mode: "0640"
  - path: out/cassandra.env
    from: { namespace: /production/cassandra }
    format: env
  - path: out/upstreams.conf
    from: { api: { services: { tag: api } } }
    template: ${join(dir0, 'upstreams.liquid')}
`,
    );
    await expect.poll(() => read(join(dir, 'out/listen_ip')), { timeout: 5000 }).toBe('10.0.0.1');
    // The first sync writes the files concurrently: listen_ip being there says nothing of the others.
    await expect.poll(async () => JSON.parse((await read(join(dir, 'out/cassandra.json'))) ?? 'null') as unknown, { timeout: 5000 }).toEqual({ listen_ip: '10.0.0.1', listen_port: '9042' });
    await expect.poll(() => read(join(dir, 'out/cassandra.env')), { timeout: 5000 }).toBe("LISTEN_IP='10.0.0.1'\nLISTEN_PORT='9042'\n");
    await expect.poll(() => read(join(dir, 'out/upstreams.conf')), { timeout: 5000 }).toBe('upstream api {\n  server 10.1.0.1:8080;\n}\n');
    const { statSync } = await import('node:fs');
    expect(statSync(join(dir, 'out/cassandra.json')).mode & 0o777).toBe(0o640);

    // Changes flow in: a value, a new service (join), a removed one.
    const t0 = performance.now();
    await client.setConfig(t, '/production/cassandra/listen_ip', { value: '10.0.0.2' });
    await expect.poll(() => read(join(dir, 'out/listen_ip')), { timeout: 2000, interval: 2 }).toBe('10.0.0.2');
    expect(performance.now() - t0).toBeLessThan(1000);
    await client.createService(t, { id: 'api-2', heartbeat_timeout: 120, tags: ['api'], metadata: { address: '10.1.0.2:8080' } });
    await expect.poll(() => read(join(dir, 'out/upstreams.conf')), { timeout: 2000 }).toContain('10.1.0.2:8080');
    await client.deleteService(t, 'api-1');
    await expect.poll(() => read(join(dir, 'out/upstreams.conf')), { timeout: 2000 }).toBe('upstream api {\n  server 10.1.0.2:8080;\n}\n');
  });

  it('a burst of 100 concurrent changes gives one write and one reload', async () => {
    const t = `burst-${Date.now()}`;
    await client.setConfig(t, '/app/settings/level', { value: 'v-start' });
    const counter = join(tmp.path, `reloads-${t}`);
    const { dir, api } = await agentWith(
      t,
      `actions:
  count: { exec: [/bin/sh, -c, "echo reload >> ${counter}"] }
files:
  - path: out/level
    from: { key: /app/settings/level }
    on_change: count
    wait: { min: 1s, max: 10s }
`,
    );
    await expect.poll(() => read(join(dir, 'out/level')), { timeout: 5000 }).toBe('v-start');
    await expect.poll(() => read(counter), { timeout: 5000 }).toBe('reload\n');
    const rendersBefore = await metric(api, 'tether_file_renders_total{result="written"}');
    const started = performance.now();
    await Promise.all(Array.from({ length: 100 }, (_, i) => client.setConfig(t, '/app/settings/level', { value: `v-${i}` })));
    // The premise: the whole burst lands well inside `wait.max` (a loaded machine takes seconds, not 50 ms).
    expect(performance.now() - started).toBeLessThan(5000);
    const last = (await client.getConfig(t, '/app/settings/level')).value;
    await expect.poll(() => read(join(dir, 'out/level')), { timeout: 5000 }).toBe(last);
    await expect.poll(() => read(counter), { timeout: 5000 }).toBe('reload\nreload\n');
    await new Promise((r) => setTimeout(r, 800));
    expect(await read(counter)).toBe('reload\nreload\n');
    expect((await metric(api, 'tether_file_renders_total{result="written"}')) - rendersBefore).toBe(1);
  });

  it('a failing check keeps the old file and reports it; the next good value goes through', async () => {
    const t = `check-${Date.now()}`;
    await client.setConfig(t, '/app/config/port', { value: '8080' });
    const { dir, api } = await agentWith(
      t,
      `files:
  - path: out/port
    from: { key: /app/config/port }
    check: [/bin/sh, -c, 'grep -qE "^[0-9]+$" "$TETHER_STAGED_PATH"']
`,
    );
    await expect.poll(() => read(join(dir, 'out/port')), { timeout: 5000 }).toBe('8080');
    await client.setConfig(t, '/app/config/port', { value: 'not-a-port' });
    await expect
      .poll(async () => ((await (await fetch(`${api}/v1/status`)).json()) as { files: Array<{ ok: boolean; lastError: { message: string } | null }> }).files[0], { timeout: 5000 })
      .toMatchObject({ ok: false, lastError: { message: expect.stringContaining('check') } });
    expect(await read(join(dir, 'out/port'))).toBe('8080');
    await client.setConfig(t, '/app/config/port', { value: '9090' });
    await expect.poll(() => read(join(dir, 'out/port')), { timeout: 5000 }).toBe('9090');
  });

  it('keeps every file byte-identical while the registry is down, then catches up; changes made while the agent was down arrive at restart', async () => {
    const t = `outage-${Date.now()}`;
    const data = join(tmp.path, `registry-${t}`);
    let reg = await startRegistry(data);
    const local = new HttpRegistry({ url: reg.url });
    try {
      await local.setConfig(t, '/app/config/mode', { value: 'one' });
      const body = `files:\n  - path: out/mode\n    from: { key: /app/config/mode }\n`;
      const first = await agentWith(t, body, reg.url);
      const file = join(first.dir, 'out/mode');
      await expect.poll(() => read(file), { timeout: 5000 }).toBe('one');
      await reg.stop('SIGKILL');
      // 30 s without a registry: the agent keeps retrying, the file never changes.
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        expect(await read(file)).toBe('one');
        await new Promise((r) => setTimeout(r, 1000));
      }
      reg = await startRegistry(data, reg.port);
      await local.setConfig(t, '/app/config/mode', { value: 'two' });
      await expect.poll(() => read(file), { timeout: 20_000 }).toBe('two');

      // The agent down, a change, the agent back: in the file within a second of its start.
      await first.proc.stop('SIGTERM');
      await local.setConfig(t, '/app/config/mode', { value: 'three' });
      const proc = spawnTether(['agent', '--config', first.config]);
      procs.push(proc);
      const t0 = performance.now();
      await expect.poll(() => read(file), { timeout: 5000, interval: 10 }).toBe('three');
      expect(performance.now() - t0).toBeLessThan(1500);
    } finally {
      await local.close();
      await reg.stop();
    }
  }, 90_000);

  it('render --once: exit 0 when every file is written or unchanged, 1 when one fails, 3 when the registry is unreachable', async () => {
    const t = `once-${Date.now()}`;
    await client.setConfig(t, '/app/once/value', { value: 'hello' });
    const dir = join(tmp.path, `once-${t}`);
    const config = join(tmp.path, `once-${t}.yaml`);
    const manifest = (url: string, extra = '') =>
      `upstream:\n  url: ${url}/v1.0/${t}\nfiles:\n  - path: ${dir}/value\n    from: { key: /app/once/value }\n${extra}`;
    await writeFile(config, manifest(registry.url));
    const run = async (args: string[]) => {
      const p = spawnTether(['render', '--config', config, '--once', ...args]);
      const { code } = await p.exited;
      return { code, out: p.stdout(), err: p.log.join('\n') };
    };
    const dry = await run(['--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.out).toContain(`--- /dev/null\n+++ ${dir}/value\n@@ -0,0 +1,1 @@\n+hello\n`);
    expect(await read(join(dir, 'value'))).toBeNull();
    expect((await run([])).code).toBe(0);
    expect(await read(join(dir, 'value'))).toBe('hello');
    expect((await run([])).out).toContain(`unchanged ${dir}/value`);

    await writeFile(config, manifest(registry.url, `  - path: ${dir}/missing\n    from: { key: /app/once/nope }\n    on_missing: error\n`));
    const failed = await run([]);
    expect(failed.code).toBe(1);
    expect(failed.err).toContain('does not exist');

    await writeFile(config, manifest('http://127.0.0.1:9'));
    expect((await run([])).code).toBe(3);
    expect(await read(join(dir, 'value'))).toBe('hello');
  });
});

describe('files: readiness', () => {
  it('/readyz is 503 while the registry is unreachable, and 200 once the first full sync is done', async () => {
    const t = `ready-${Date.now()}`;
    const { freePort } = await import('../helpers/ports.js');
    const port = await freePort();
    const { api, dir } = await agentWith(t, `files:\n  - path: out/v\n    from: { key: /app/ready/value }\n`, `http://127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 500));
    expect((await fetch(`${api}/readyz`)).status).toBe(503);
    const late = await startRegistry(join(tmp.path, `registry-${t}`), port);
    try {
      const local = new HttpRegistry({ url: late.url });
      await local.setConfig(t, '/app/ready/value', { value: 'ok' });
      await local.close();
      await expect.poll(async () => (await fetch(`${api}/readyz`)).status, { timeout: 20_000 }).toBe(200);
      expect(await read(join(dir, 'out/v'))).toBe('ok');
    } finally {
      await late.stop();
    }
  }, 40_000);
});

describe('files: templates, hooks, symlinks', () => {
  it('a template error keeps the old file and reports the template line; fixing the template renders again', async () => {
    const t = `tpl-${Date.now()}`;
    await client.setConfig(t, '/app/web/title', { value: 'Hello' });
    const tplDir = join(tmp.path, `tpl-${t}`);
    await import('node:fs/promises').then((fs) => fs.mkdir(tplDir, { recursive: true }));
    const tpl = join(tplDir, 'page.liquid');
    await writeFile(tpl, '<h1>{{ web.title }}</h1>\n');
    const { dir, api } = await agentWith(t, `files:\n  - path: out/page.html\n    from: { web: { namespace: /app/web } }\n    template: ${tpl}\n`);
    const out = join(dir, 'out/page.html');
    await expect.poll(() => read(out), { timeout: 5000 }).toBe('<h1>Hello</h1>\n');
    await writeFile(tpl, '<h1>{{ web.title }}</h1>\n<p>{{ web.subtitle }}</p>\n');
    await expect
      .poll(async () => ((await (await fetch(`${api}/v1/status`)).json()) as { files: Array<{ lastError: { message: string } | null }> }).files[0]?.lastError?.message, {
        timeout: 5000,
      })
      .toMatch(/page\.liquid:2:\d+: .*subtitle/);
    expect(await read(out)).toBe('<h1>Hello</h1>\n');
    await writeFile(tpl, '<h1>{{ web.title }}</h1>\n<p>{{ web.subtitle | default: "none" }}</p>\n');
    await expect.poll(() => read(out), { timeout: 5000 }).toBe('<h1>Hello</h1>\n<p>none</p>\n');
  });

  it('runs a hook with the event as JSON on stdin, for matching events only', async () => {
    const t = `hook-${Date.now()}`;
    const log = join(tmp.path, `hook-${t}.jsonl`);
    await agentWith(
      t,
      `hooks:\n  - on: [configuration_value.update]\n    filter: { key_prefix: /watched/ }\n    action: { exec: [/bin/sh, -c, "cat >> ${log}; echo >> ${log}"] }\n`,
    );
    await new Promise((r) => setTimeout(r, 500));
    await client.setConfig(t, '/ignored/key', { value: 'no' });
    await client.setConfig(t, '/watched/key', { value: 'yes' });
    await expect.poll(() => read(log), { timeout: 5000 }).toContain('/watched/key');
    const lines = ((await read(log)) as string).trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ type: 'configuration_value.update', payload: { configuration_value_id: '/watched/key', new_value: 'yes' } });
  });

  it('writes through a symlinked destination (Kubernetes ..data style), keeping the link', async () => {
    const t = `link-${Date.now()}`;
    await client.setConfig(t, '/app/link/value', { value: 'first' });
    const fs = await import('node:fs/promises');
    const real = join(tmp.path, `link-${t}`, '..data');
    await fs.mkdir(real, { recursive: true });
    await writeFile(join(real, 'value'), 'old');
    const linkDir = join(tmp.path, `link-${t}`);
    await fs.symlink(join(real, 'value'), join(linkDir, 'value'));
    await agentWith(t, `files:\n  - path: ${join(linkDir, 'value')}\n    from: { key: /app/link/value }\n`);
    await expect.poll(() => read(join(real, 'value')), { timeout: 5000 }).toBe('first');
    expect((await fs.lstat(join(linkDir, 'value'))).isSymbolicLink()).toBe(true);
  });
});

async function metric(api: string, series: string): Promise<number> {
  const text = await (await fetch(`${api}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : 0;
}
