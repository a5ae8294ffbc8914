import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnTether, startRegistry, type Proc } from '../helpers/procs.js';
import { useRegistry, metricValue } from '../helpers/agent-env.js';

/**
 * Issue 18 item 5 for an agent with files and no services (review R18): it
 * has no heartbeat, so only the files' registry calls (events feed, full
 * sync) can show an outage in upstream.lastError and the warning line; the files' own
 * `full sync failed` warning comes once per outage, not at every retry.
 */

const env = useRegistry('agent-status-files');
const { procs } = env;
let agent: Proc | undefined;

afterAll(async () => {
  await agent?.stop('SIGKILL');
});

interface Status {
  upstream: { lastError: { message: string } | null };
  files: Array<{ ok: boolean | null; stale: { since: number } | null }>;
}

describe('status tells the truth with files only', () => {
  it('a registry outage shows in upstream.lastError and one warning; recovery clears it', async () => {
    const t = `status-files-${Date.now()}`;
    await env.client.setConfig(t, '/app/level', { value: 'info' });
    const dir = join(env.tmp.path, 'case');
    await mkdir(dir, { recursive: true });
    const config = join(dir, 'tether.yaml');
    await writeFile(
      config,
      `upstream:\n  url: ${env.registry.url}/v1.0/${t}\n  timeout: 1s\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${dir}/state\n` +
        `files:\n  - path: ${dir}/level\n    from: { key: /app/level }\n`,
    );
    agent = spawnTether(['agent', '--config', config]);
    const api = (await agent.waitForLog((r) => r.msg === 'agent started')).api as string;
    const status = async () => (await (await fetch(`${api}/v1/status`)).json()) as Status;
    await expect.poll(() => readFile(join(dir, 'level'), 'utf8').catch(() => null), { timeout: 5000 }).toBe('info');
    expect((await status()).upstream.lastError).toBeNull();

    const port = env.registry.port;
    await env.registry.stop();
    await expect.poll(async () => (await status()).upstream.lastError?.message, { timeout: 15_000 }).toMatch(/unreachable|fault|error/i);
    expect((await status()).files[0]).toMatchObject({ ok: false, stale: { since: expect.any(Number) } });
    await expect.poll(() => agent?.log.filter((l) => l.includes('registry unreachable or failing')).length, { timeout: 5000 }).toBe(1);
    // Several failed full syncs (backoff from 250 ms), one warning line of the files' own for the outage.
    await expect.poll(() => metricValue(api, 'tether_upstream_errors_total{op="sync"}'), { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
    expect(agent.log.filter((l) => l.includes('full sync failed') && l.includes('"level":"warn"')).length).toBe(1);

    env.registry = await startRegistry(join(env.tmp.path, 'registry'), port);
    await expect.poll(async () => (await status()).upstream.lastError, { timeout: 30_000 }).toBeNull();
    await expect.poll(async () => (await status()).files[0], { timeout: 5000 }).toMatchObject({ ok: true, stale: null });
  }, 90_000);
});
