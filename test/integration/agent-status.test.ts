import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { spawnTether, startRegistry, type Proc, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * Issue 18 item 5, end to end: a registry outage shows in /v1/status and in
 * one warning line (not one per failed call), files read from it show stale,
 * and the event-loop lag metric reads the real lag of an idle agent.
 */

let tmp: TempDir;
let registry: RegistryProc;
let client: HttpRegistry;
let agent: Proc | undefined;

beforeAll(async () => {
  tmp = await createTempDir('agent-status');
  registry = await startRegistry(join(tmp.path, 'registry'));
  client = new HttpRegistry({ url: registry.url });
});
afterAll(async () => {
  await agent?.stop('SIGKILL');
  await client.close();
  await registry.stop('SIGKILL');
  await tmp.remove();
});

interface Status {
  upstream: { lastError: { message: string } | null };
  files: Array<{ ok: boolean | null; stale: { since: number } | null }>;
}

async function metric(api: string, name: string): Promise<number> {
  const text = await (await fetch(`${api}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : NaN;
}

describe('status tells the truth', () => {
  it('an idle agent reads a real event-loop lag; an outage shows in status, in one warning and as stale files; recovery clears both', async () => {
    const t = `status-${Date.now()}`;
    await client.setConfig(t, '/app/level', { value: 'info' });
    const dir = join(tmp.path, 'case');
    await mkdir(dir, { recursive: true });
    const config = join(dir, 'tether.yaml');
    await writeFile(
      config,
      `upstream:\n  url: ${registry.url}/v1.0/${t}\n  timeout: 1s\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${dir}/state\n` +
        `services:\n  - id: api-1\n    heartbeat_timeout: 3\nfiles:\n  - path: ${dir}/level\n    from: { key: /app/level }\n`,
    );
    agent = spawnTether(['agent', '--config', config]);
    const api = (await agent.waitForLog((r) => r.msg === 'agent started')).api as string;
    const status = async () => (await (await fetch(`${api}/v1/status`)).json()) as Status;
    await expect.poll(() => readFile(join(dir, 'level'), 'utf8').catch(() => null), { timeout: 5000 }).toBe('info');
    await expect.poll(async () => (await status()).files[0], { timeout: 5000 }).toMatchObject({ ok: true, stale: null });
    expect((await status()).upstream.lastError).toBeNull();

    // Idle for a few one-second samples: the lag is milliseconds, not the ~1 s sampling period. Each
    // scrape starts a new window: one every 3.5 s holds three samples, one of which shows some lag.
    await expect.poll(() => metric(api, 'nodejs_eventloop_lag_max_seconds'), { timeout: 20_000, interval: 3500 }).toBeGreaterThan(0);
    expect(await metric(api, 'nodejs_eventloop_lag_p50_seconds')).toBeLessThan(0.2);
    expect(await metric(api, 'nodejs_eventloop_lag_mean_seconds')).toBeLessThan(0.2);

    const port = registry.port;
    await registry.stop();
    await expect.poll(async () => (await status()).upstream.lastError?.message, { timeout: 15_000 }).toBeTruthy();
    await expect.poll(async () => (await status()).files[0], { timeout: 15_000 }).toMatchObject({ ok: false, stale: { since: expect.any(Number) } });
    // Several failed calls, one warning line (rate-limited to one per 30 s).
    await expect.poll(() => metric(api, 'tether_upstream_errors_total{op="heartbeat"}'), { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
    expect(agent.log.filter((l) => l.includes('registry unreachable or failing')).length).toBe(1);

    registry = await startRegistry(join(tmp.path, 'registry'), port);
    await expect.poll(async () => (await status()).upstream.lastError, { timeout: 20_000 }).toBeNull();
    await expect.poll(async () => (await status()).files[0], { timeout: 20_000 }).toMatchObject({ ok: true, stale: null });
  }, 90_000);
});
