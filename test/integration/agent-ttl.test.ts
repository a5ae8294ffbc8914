import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { spawnTether, startRegistry, type Proc, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/** Issue 18 item 3: a ttl check is unhealthy `ttl` after the last pass, not ttl + fall x interval. */

const TENANT = 'agent-ttl';
let tmp: TempDir;
let registry: RegistryProc;
let client: HttpRegistry;
let agent: Proc | undefined;

beforeAll(async () => {
  tmp = await createTempDir('agent-ttl');
  registry = await startRegistry(join(tmp.path, 'registry'));
  client = new HttpRegistry({ url: registry.url });
});

afterAll(async () => {
  await agent?.stop('SIGKILL');
  await client.close();
  await registry.stop();
  await tmp.remove();
});

const status = async (): Promise<string | undefined> => (await client.getService(TENANT, 'worker').catch(() => null))?.metadata.status;

describe('ttl check', () => {
  it('goes critical 3 s after the last pass although interval x fall is 15 s', async () => {
    const path = join(tmp.path, 'ttl.yaml');
    await writeFile(
      path,
      `upstream:\n  url: ${registry.url}/v1.0/${TENANT}\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${tmp.path}/state\nservices:\n` +
        `  - id: worker\n    on_unhealthy: keep\n    check: { ttl: 3s, interval: 5s, fall: 3, rise: 1 }\n`,
    );
    agent = spawnTether(['agent', '--config', path]);
    const api = (await agent.waitForLog((r) => r.msg === 'agent started')).api as string;
    const t0 = performance.now();
    const res = await fetch(`${api}/v1/checks/worker/pass`, { method: 'POST' });
    expect(res.status).toBe(200);
    await expect.poll(status, { timeout: 2500, interval: 20 }).toBe('passing');
    await expect.poll(status, { timeout: 8000, interval: 20 }).toBe('critical');
    const elapsed = performance.now() - t0;
    // Not before the ttl ran out; well before 3 s + 3 x 5 s (the old verdict) even on a loaded machine.
    expect(elapsed).toBeGreaterThanOrEqual(3000);
    expect(elapsed).toBeLessThan(7000);
  }, 30_000);
});
