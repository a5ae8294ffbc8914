import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnTether, startTarget, type Proc, type Target } from '../helpers/procs.js';
import { useRegistry } from '../helpers/agent-env.js';

/**
 * Issue 18 item 9, end to end (real registry, real agent, a real HTTP probe
 * target): a service kept while critical (`on_unhealthy: keep`) is
 * deregistered once critical for `deregister_critical_after`, counted from its
 * critical verdict, and registered again when it passes again.
 */

const env = useRegistry('critical');
const { procs } = env;
const targets: Target[] = [];

afterEach(async () => {
  await Promise.all(targets.splice(0).map((t) => t.close()));
});

interface Status {
  services: Array<{ id: string; health: string; registered: boolean; critical: { since: number; deregisterAt: number | null } | null }>;
}

async function setup(name: string, after: string): Promise<{ t: string; target: Target; proc: Proc; api: string }> {
  const t = `${name}-${Date.now()}`;
  const target = await startTarget(true);
  targets.push(target);
  const dir = join(env.tmp.path, t);
  await mkdir(dir, { recursive: true });
  const config = join(dir, 'tether.yaml');
  await writeFile(
    config,
    `upstream:\n  url: ${env.registry.url}/v1.0/${t}\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${dir}/state\n` +
      `services:\n  - id: web\n    on_unhealthy: keep\n    deregister_critical_after: ${after}\n` +
      `    check: { http: ${target.url}, interval: 100ms, timeout: 1s, fall: 1, rise: 1 }\n`,
  );
  const proc = spawnTether(['agent', '--config', config]);
  procs.push(proc);
  const api = (await proc.waitForLog((r) => r.msg === 'agent started')).api as string;
  return { t, target, proc, api };
}

const web = async (t: string) => (await env.client.listServices(t)).values.find((s) => s.id === 'web') ?? null;
const statusOf = async (api: string) => ((await (await fetch(`${api}/v1/status`)).json()) as Status).services[0];

describe('deregister_critical_after', () => {
  it('keeps a critical service for that long after its verdict, then deregisters it; a pass registers it again', async () => {
    const { t, target, proc, api } = await setup('crit', '2s');
    await expect.poll(async () => (await web(t))?.metadata.status, { timeout: 8000 }).toBe('passing');

    target.healthy = false;
    await expect.poll(async () => (await web(t))?.metadata.status, { timeout: 5000 }).toBe('critical');
    const s = await statusOf(api);
    expect(s).toMatchObject({ health: 'unhealthy', registered: true });
    const since = s?.critical?.since as number;
    expect(s?.critical?.deregisterAt).toBe(since + 2000);

    // Still registered, critical, until the deadline ...
    await expect.poll(() => web(t), { timeout: 8000, interval: 50 }).toBeNull();
    const gone = Date.now();
    // ... and not before it (the status clock and ours are the same machine's).
    expect(gone).toBeGreaterThanOrEqual(since + 2000);
    expect(gone - (since + 2000)).toBeLessThan(1500);
    await proc.waitForLog((r) => r.msg === 'deregistered' && r.reason === 'deregister_critical_after');
    expect(await statusOf(api)).toMatchObject({ health: 'unhealthy', registered: false });
    const metrics = await (await fetch(`${api}/metrics`)).text();
    expect(metrics).toMatch(/^tether_critical_deregistrations_total 1$/m);

    target.healthy = true;
    await expect.poll(async () => (await web(t))?.metadata.status, { timeout: 5000 }).toBe('passing');
    expect((await statusOf(api))?.critical).toBeNull();
  }, 40_000);

  it('a pass before the deadline stops the clock; the next critical spell counts from its own verdict', async () => {
    const { t, target, api } = await setup('crit-flap', '3s');
    await expect.poll(async () => (await web(t))?.metadata.status, { timeout: 8000 }).toBe('passing');

    target.healthy = false;
    await expect.poll(async () => (await web(t))?.metadata.status, { timeout: 5000 }).toBe('critical');
    const first = (await statusOf(api))?.critical?.since as number;
    await new Promise((r) => setTimeout(r, 1500));
    target.healthy = true;
    await expect.poll(async () => (await web(t))?.metadata.status, { timeout: 5000 }).toBe('passing');
    target.healthy = false;
    await expect.poll(async () => (await web(t))?.metadata.status, { timeout: 5000 }).toBe('critical');
    const second = (await statusOf(api))?.critical?.since as number;
    expect(second).toBeGreaterThan(first + 1500);
    // Past the first spell's deadline, the service is still there: the clock restarted.
    while (Date.now() < first + 3500) await new Promise((r) => setTimeout(r, 100));
    if (Date.now() < second + 3000) expect(await web(t)).not.toBeNull();
    await expect.poll(() => web(t), { timeout: 8000, interval: 50 }).toBeNull();
    expect(Date.now()).toBeGreaterThanOrEqual(second + 3000);
  }, 40_000);
});
