import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { isFault } from '../../src/registry/faults.js';
import type { RegistryEvent } from '../../src/registry/types.js';
import { spawnTether, startRegistry, startTarget, type Proc, type RegistryProc, type Target } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * The agent end to end: a real `tether registry` process, a real `tether
 * agent` process, real HTTP probe targets, real manifest files.
 */

const TENANT = 'agent-it';
let tmp: TempDir;
let registry: RegistryProc;
let client: HttpRegistry;
const procs: Proc[] = [];
const targets: Target[] = [];

beforeAll(async () => {
  tmp = await createTempDir('agent-it');
  registry = await startRegistry(join(tmp.path, 'registry'));
  client = new HttpRegistry({ url: registry.url });
});

afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop('SIGKILL')));
  await Promise.all(targets.splice(0).map((t) => t.close()));
});

afterAll(async () => {
  await client.close();
  await registry.stop();
  await tmp.remove();
});

let seq = 0;
async function writeManifest(name: string, body: string): Promise<string> {
  const path = join(tmp.path, name);
  await writeFile(path, body);
  return path;
}

function header(tenant: string, extra = ''): string {
  return `upstream:\n  url: ${registry.url}/v1.0/${tenant}\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${tmp.path}/state-${++seq}\n${extra}services:\n`;
}

async function startAgent(config: string): Promise<{ proc: Proc; api: string }> {
  const proc = spawnTether(['agent', '--config', config], { TETHER_LOG_LEVEL: 'debug' });
  procs.push(proc);
  const rec = await proc.waitForLog((r) => r.msg === 'agent started');
  return { proc, api: rec.api as string };
}

async function registeredIds(tenant: string): Promise<string[]> {
  return (await client.listServices(tenant)).values.map((s) => s.id).sort();
}

/** Polls every 5 ms until `cond` holds; returns the elapsed ms. */
async function timeUntil(cond: () => Promise<boolean>, limitMs: number): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await cond()) return performance.now() - t0;
    if (performance.now() - t0 > limitMs) throw new Error(`condition not met within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const exists = (tenant: string, id: string) => async () =>
  client.getService(tenant, id).then(
    () => true,
    (err: unknown) => {
      if (isFault(err, 'notFoundError')) return false;
      throw err;
    },
  );

describe('tether agent', () => {
  it('registers a service after rise passing probes (not before one interval, within interval x rise + 500 ms), removes it after fall failing ones, and registers it again', async () => {
    const tenant = `${TENANT}-probe`;
    const target = await startTarget(false);
    targets.push(target);
    const head = header(tenant);
    const config = await writeManifest(
      'probe.yaml',
      `${head}  - id: web-1\n    tags: [web]\n    check: { http: "${target.url}", interval: 200ms, timeout: 150ms, rise: 2, fall: 2 }\n`,
    );
    const { api } = await startAgent(config);
    // Unhealthy from the start: never registered.
    await new Promise((r) => setTimeout(r, 600));
    expect(await registeredIds(tenant)).toEqual([]);

    // Two passing probes 200 ms apart, then the registration: at least one interval after the target turned
    // healthy (rise is honoured), and interval x rise + 100 ms on an idle machine. The bound here leaves room
    // for a CI machine running two test files per core; the latency itself is the benches' (propagation, agent).
    const bound = 200 * 2 + 100 + 400;
    target.healthy = true;
    const up = await timeUntil(exists(tenant, 'web-1'), 3000);
    expect(up).toBeGreaterThanOrEqual(150);
    expect(up).toBeLessThanOrEqual(bound);

    target.healthy = false;
    const down = await timeUntil(async () => !(await exists(tenant, 'web-1')()), 3000);
    expect(down).toBeGreaterThanOrEqual(150);
    expect(down).toBeLessThanOrEqual(bound);

    target.healthy = true;
    const again = await timeUntil(exists(tenant, 'web-1'), 3000);
    expect(again).toBeGreaterThanOrEqual(150);
    expect(again).toBeLessThanOrEqual(bound);

    // /metrics: results per service, durations per probe kind, the last duration per service.
    const text = await (await fetch(`${api}/metrics`)).text();
    const value = (series: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      if (line === undefined) throw new Error(`no ${series} in /metrics`);
      return Number(line.slice(series.length + 1));
    };
    const pass = value('tether_probe_results_total{service="web-1",result="pass"}');
    const fail = value('tether_probe_results_total{service="web-1",result="fail"}');
    expect(pass).toBeGreaterThanOrEqual(4);
    expect(fail).toBeGreaterThanOrEqual(4);
    // Every run is counted in both (one more if a run landed while the scrape was being written).
    expect(value('tether_probe_duration_seconds_count{kind="http"}') - (pass + fail)).toBeOneOf([0, 1]);
    // In seconds: above 0, and no more than the 150 ms timeout plus a slow machine's delay.
    expect(value('tether_probe_last_duration_seconds{service="web-1"}')).toBeGreaterThan(0);
    expect(value('tether_probe_last_duration_seconds{service="web-1"}')).toBeLessThan(1);
    expect(text).not.toMatch(/^tether_probe_duration_seconds_bucket\{[^}]*service=/m);

    // The check removed from the manifest (the service stays): its probe series go with it.
    await writeFile(config, `${head}  - id: web-1\n    tags: [web]\n`);
    await timeUntil(async () => !(await (await fetch(`${api}/metrics`)).text()).includes('service="web-1",result='), 5000);
    const after = await (await fetch(`${api}/metrics`)).text();
    expect(after).not.toContain('tether_probe_last_duration_seconds{service="web-1"}');
    expect(after).toMatch(/^tether_service_registered\{service="web-1"\} 1$/m);
    expect(await registeredIds(tenant)).toEqual(['web-1']);
  });

  it('on SIGTERM removes every registered service before it exits 0', async () => {
    const tenant = `${TENANT}-term`;
    const config = await writeManifest('term.yaml', `${header(tenant)}  - id: svc-a\n  - id: svc-b\n    heartbeat_timeout: 60\n`);
    const { proc } = await startAgent(config);
    await timeUntil(async () => (await registeredIds(tenant)).length === 2, 5000);
    const t0 = performance.now();
    const { code } = await proc.stop('SIGTERM');
    expect(code).toBe(0);
    // The spec allows 5 s; a clean shutdown takes well under 1 s, so a lingering timer shows up here.
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(await registeredIds(tenant)).toEqual([]);
    const removes = (await client.listEvents(tenant, { type: 'service.remove' })).values.map((e) => (e.payload as { id: string }).id).sort();
    expect(removes).toEqual(['svc-a', 'svc-b']);
  });

  it('runs 40 services (20 probed) from start to SIGTERM with nothing on stderr but JSON log records (no listener-leak warning)', async () => {
    const tenant = `${TENANT}-many`;
    const target = await startTarget(true);
    targets.push(target);
    const services = Array.from({ length: 40 }, (_, i) =>
      i % 2 === 0 ? `  - id: many-${i}\n    check: { http: "${target.url}", interval: 200ms, timeout: 150ms }\n` : `  - id: many-${i}\n`,
    );
    const config = await writeManifest('many.yaml', `${header(tenant)}${services.join('')}`);
    const { proc } = await startAgent(config);
    await timeUntil(async () => (await registeredIds(tenant)).length === 40, 10_000);
    expect((await proc.stop('SIGTERM')).code).toBe(0);
    const notJson = proc.log.filter((line) => {
      try {
        return typeof JSON.parse(line) !== 'object';
      } catch {
        return true;
      }
    });
    expect(notJson).toEqual([]);
  });

  it('after SIGKILL the registry times the services out', async () => {
    const tenant = `${TENANT}-kill`;
    const config = await writeManifest('kill.yaml', `${header(tenant)}  - id: doomed\n    heartbeat_timeout: 3\n`);
    const { proc } = await startAgent(config);
    await timeUntil(exists(tenant, 'doomed'), 5000);
    await proc.stop('SIGKILL');
    const gone = await timeUntil(async () => !(await exists(tenant, 'doomed')()), 8000);
    expect(gone).toBeGreaterThan(1000); // it was alive until its session deadline
    const timeouts = (await client.listEvents(tenant, { type: 'service.timeout' })).values;
    expect(timeouts.map((e) => (e.payload as { id: string }).id)).toEqual(['doomed']);
  });

  it('applies manifest edits as a diff and rejects an invalid edit without changing anything', { timeout: 60_000 }, async () => {
    const tenant = `${TENANT}-reload`;
    const path = await writeManifest('reload.yaml', `${header(tenant)}  - id: keep-me\n  - id: drop-me\n`);
    const { api } = await startAgent(path);
    await timeUntil(async () => (await registeredIds(tenant)).join() === 'drop-me,keep-me', 15_000);
    const before = (await client.listEvents(tenant)).values;
    const marker = (before[before.length - 1] as RegistryEvent).id;

    await writeFile(path, `${header(tenant)}  - id: keep-me\n  - id: new-one\n`);
    await timeUntil(async () => (await registeredIds(tenant)).join() === 'keep-me,new-one', 15_000);
    const after = (await client.listEvents(tenant, { marker })).values.filter((e) => e.id !== marker);
    const touched = after.map((e) => `${e.type}:${(e.payload as { id: string }).id}`).sort();
    expect(touched).toEqual(['service.join:new-one', 'service.remove:drop-me']);

    // An invalid edit: everything keeps running and the status says where the problem is.
    await writeFile(path, `${header(tenant)}  - id: keep-me\n    bogus: 1\n  - id: new-one\n`);
    await expect
      .poll(async () => ((await (await fetch(`${api}/v1/status`)).json()) as { manifest: { issues: Array<{ line: number; column: number; message: string }> } }).manifest.issues, {
        timeout: 15_000,
      })
      .toEqual([expect.objectContaining({ line: 8, column: 5, message: 'unknown key "bogus"' })]);
    const metrics = await (await fetch(`${api}/metrics`)).text();
    expect(metrics).toMatch(/^tether_manifest_valid 0$/m);
    expect(await registeredIds(tenant)).toEqual(['keep-me', 'new-one']);
    const status = (await (await fetch(`${api}/readyz`)).json()) as { ready: boolean };
    expect(status.ready).toBe(true);
  });

  it('keeps services registered across a registry restart on the same data', async () => {
    const tenant = `${TENANT}-restart`;
    const data = join(tmp.path, 'registry-restart');
    let reg = await startRegistry(data);
    const port = reg.port;
    try {
      const config = await writeManifest(
        'restart.yaml',
        `upstream:\n  url: ${reg.url}/v1.0/${tenant}\n  timeout: 1s\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${tmp.path}/state-restart\nservices:\n  - id: survivor-1\n    heartbeat_timeout: 5\n  - id: survivor-2\n    heartbeat_timeout: 5\n`,
      );
      const { api } = await startAgent(config);
      const local = new HttpRegistry({ url: reg.url });
      try {
        await timeUntil(async () => (await local.listServices(tenant)).values.length === 2, 5000);
        await reg.stop('SIGKILL');
        await new Promise((r) => setTimeout(r, 1500));
        reg = await startRegistry(data, port);
        // Within one heartbeat interval (5 s x 0.6 = 3 s) both are there, and they stay past their timeout.
        await timeUntil(async () => (await local.listServices(tenant)).values.length === 2, 3000);
        await new Promise((r) => setTimeout(r, 6000));
        expect((await local.listServices(tenant)).values.map((s) => s.id).sort()).toEqual(['survivor-1', 'survivor-2']);
        const st = (await (await fetch(`${api}/v1/status`)).json()) as { services: Array<{ registered: boolean; lastHeartbeat: number | null }> };
        expect(st.services.every((s) => s.registered)).toBe(true);
        // Session mode: each service shows the session's last heartbeat (one every ~3 s here).
        expect(st.services.every((s) => s.lastHeartbeat !== null)).toBe(true);
      } finally {
        await local.close();
      }
    } finally {
      await reg.stop();
    }
  }, 40_000);

  it('exits 1 with file:line:column issues when the initial manifest is invalid', async () => {
    const config = await writeManifest('invalid.yaml', 'services:\n  - id: x\n');
    const proc = spawnTether(['agent', '--config', config]);
    const { code } = await proc.exited;
    expect(code).toBe(1);
    expect(proc.log.join('\n') + proc.stdout()).toContain(`${config}:2:9: services[0].id: must be 3..65 characters`);
  });
});

describe('tether agent: ttl checks, SIGHUP, service mode', () => {
  it('registers a ttl service on a pass report, marks it critical when silent (keep), and reloads on SIGHUP', async () => {
    const tenant = `${TENANT}-ttl`;
    const path = await writeManifest(
      'ttl.yaml',
      `${header(tenant)}  - id: reporter\n    on_unhealthy: keep\n    check: { ttl: 600ms, interval: 100ms, fall: 1 }\n`,
    );
    const { proc, api } = await startAgent(path);
    // No report yet: one failed probe (fall 1) makes it unhealthy, and keep registers it as critical.
    await expect.poll(async () => (await client.getService(tenant, 'reporter').catch(() => null))?.metadata.status, { timeout: 3000 }).toBe('critical');

    const res = await fetch(`${api}/v1/checks/reporter/pass`, { method: 'POST', body: JSON.stringify({ note: 'warmed up' }) });
    expect(res.status).toBe(200);
    await expect.poll(async () => (await client.getService(tenant, 'reporter').catch(() => null))?.metadata.status, { timeout: 3000 }).toBe('passing');
    // Silent for longer than the ttl: stays registered (keep) with status=critical.
    await expect.poll(async () => (await client.getService(tenant, 'reporter').catch(() => null))?.metadata.status, { timeout: 3000 }).toBe('critical');
    expect((await fetch(`${api}/v1/checks/nobody/pass`, { method: 'POST' })).status).toBe(404);

    // SIGHUP re-reads the manifest.
    await writeFile(path, `${header(tenant)}  - id: reporter\n    on_unhealthy: keep\n    check: { ttl: 600ms, interval: 100ms, fall: 1 }\n  - id: added-by-hup\n`);
    proc.child.kill('SIGHUP');
    await expect.poll(() => registeredIds(tenant), { timeout: 5000 }).toEqual(['added-by-hup', 'reporter']);
  });

  it('in service mode heartbeats each service and registers it again when the registry forgets it', async () => {
    const tenant = `${TENANT}-svcmode`;
    const path = await writeManifest('svcmode.yaml', `${header(tenant, '  heartbeat: service\n')}  - id: solo\n    heartbeat_timeout: 3\n`);
    await startAgent(path);
    await timeUntil(exists(tenant, 'solo'), 5000);
    const first = await client.getService(tenant, 'solo');
    expect(first.session_id).toBeUndefined();
    expect(first.heartbeat_timeout).toBe(3);
    // Heartbeats keep it past its timeout, with last_seen moving.
    await new Promise((r) => setTimeout(r, 4000));
    const later = await client.getService(tenant, 'solo');
    expect(later.last_seen).not.toBeNull();
    // An operator deletes it: the next heartbeat gets 404 and the agent creates it again.
    await client.deleteService(tenant, 'solo');
    await timeUntil(exists(tenant, 'solo'), 5000);
  }, 20_000);
});

describe('tether dev', () => {
  it('runs an embedded registry the CLI can talk to, with the agent registering into it', async () => {
    const tenant = 'devtenant';
    const port = registry.port + 1000 > 65000 ? 18555 : registry.port + 1000;
    const path = await writeManifest(
      'dev.yaml',
      `upstream:\n  url: http://127.0.0.1:${port}/v1.0/${tenant}\nagent:\n  listen: 127.0.0.1:0\nservices:\n  - id: dev-svc\n    tags: [dev]\n`,
    );
    const dev = spawnTether(['dev', '--config', path, '--data', join(tmp.path, 'dev-data'), '--log-format', 'json']);
    procs.push(dev);
    await dev.waitForLog((r) => r.msg === 'agent started');
    const local = new HttpRegistry({ url: `http://127.0.0.1:${port}` });
    try {
      await expect.poll(async () => (await local.listServices(tenant, { tag: 'dev' })).values.map((s) => s.id), { timeout: 5000 }).toEqual(['dev-svc']);
      const { code } = await dev.stop('SIGINT');
      expect(code).toBe(0);
    } finally {
      await local.close();
    }
  });
});

describe('tether agent: recovery, conf.d, secrets', () => {
  it('re-creates its session and registers everything again when the registry loses the session', async () => {
    const tenant = `${TENANT}-lost`;
    const path = await writeManifest('lost.yaml', `${header(tenant)}  - id: phoenix-1\n    heartbeat_timeout: 3\n  - id: phoenix-2\n    heartbeat_timeout: 3\n`);
    await startAgent(path);
    await timeUntil(async () => (await registeredIds(tenant)).length === 2, 5000);
    const [session] = (await client.listSessions(tenant)).values;
    // As if it had expired during a partition: the session and its services are gone.
    await client.deleteSession(tenant, (session as { id: string }).id);
    expect(await registeredIds(tenant)).toEqual([]);
    // The next session heartbeat (every 1.8 s for a 3 s timeout) gets 404: new session, services back.
    await timeUntil(async () => (await registeredIds(tenant)).join() === 'phoenix-1,phoenix-2', 5000);
    const sessions = (await client.listSessions(tenant)).values;
    expect(sessions).toHaveLength(1);
    expect(sessions[0]?.id).not.toBe((session as { id: string }).id);
  });

  it('follows a conf.d directory: a file added registers its services, a file removed deregisters them', async () => {
    const tenant = `${TENANT}-confd`;
    const dir = join(tmp.path, 'conf.d');
    await import('node:fs/promises').then((fs) => fs.mkdir(dir));
    await writeFile(join(dir, '00-base.yaml'), `${header(tenant)}  - id: base-svc\n`);
    await startAgent(dir);
    await timeUntil(async () => (await registeredIds(tenant)).join() === 'base-svc', 5000);
    await writeFile(join(dir, '10-extra.yaml'), 'services:\n  - id: extra-svc\n');
    await timeUntil(async () => (await registeredIds(tenant)).join() === 'base-svc,extra-svc', 5000);
    await import('node:fs/promises').then((fs) => fs.rm(join(dir, '10-extra.yaml')));
    await timeUntil(async () => (await registeredIds(tenant)).join() === 'base-svc', 5000);
  });

  it('never writes the upstream token to a log line, even at trace level', async () => {
    const tenant = `${TENANT}-secret`;
    const secret = 'sup3r-s3cret-t0ken-value';
    const authFile = join(tmp.path, 'auth.yaml');
    await writeFile(authFile, `tokens:\n  - { token: "${secret}", tenant: "${tenant}" }\n`);
    const secured = await startRegistry(join(tmp.path, 'registry-auth'), 0, ['--auth-file', authFile, '--log-level', 'trace']);
    try {
      const path = await writeManifest(
        'secret.yaml',
        `upstream:\n  url: ${secured.url}/v1.0/${tenant}\n  token: \${AGENT_TOKEN}\nagent:\n  listen: 127.0.0.1:0\nservices:\n  - id: secretive\n`,
      );
      const proc = spawnTether(['agent', '--config', path, '--log-level', 'trace'], { AGENT_TOKEN: secret });
      procs.push(proc);
      await proc.waitForLog((r) => r.msg === 'registered' && r.service === 'secretive');
      const authed = new HttpRegistry({ url: secured.url, token: secret });
      try {
        expect((await authed.listServices(tenant)).values.map((s) => s.id)).toEqual(['secretive']);
      } finally {
        await authed.close();
      }
      await proc.stop();
      expect(proc.log.length).toBeGreaterThan(3);
      expect(proc.log.join('\n')).not.toContain(secret);
      expect(secured.log.join('\n')).not.toContain(secret);
    } finally {
      await secured.stop();
    }
  });
});
