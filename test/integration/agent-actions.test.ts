import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { spawnTether, startRegistry, type Proc, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * Issue 18 item 4, end to end: a shared action runs once per change, relative
 * commands resolve against the manifest's directory (the agent runs elsewhere),
 * and the manifest's mode is applied to a file whose bytes did not change.
 */

let tmp: TempDir;
let registry: RegistryProc;
let client: HttpRegistry;
let agent: Proc | undefined;

beforeAll(async () => {
  tmp = await createTempDir('agent-actions');
  registry = await startRegistry(join(tmp.path, 'registry'));
  client = new HttpRegistry({ url: registry.url });
});
afterAll(async () => {
  await agent?.stop('SIGKILL');
  await client.close();
  await registry.stop();
  await tmp.remove();
});

const read = (p: string) => readFile(p, 'utf8').catch(() => null);
const lines = async (p: string) => ((await read(p)) ?? '').split('\n').filter(Boolean).length;

describe('actions and files', () => {
  it('runs a shared action once per change, resolves ./ commands next to the manifest, restores the mode', async () => {
    const t = `actions-${Date.now()}`;
    await client.setConfig(t, '/app/shared/value', { value: 'one' });
    const dir = join(tmp.path, 'conf');
    await mkdir(join(dir, 'bin'), { recursive: true });
    const runs = join(tmp.path, 'runs.log');
    await writeFile(join(dir, 'bin', 'count.sh'), `#!/bin/sh\necho ran >> ${runs}\n`, { mode: 0o755 });
    await writeFile(join(dir, 'bin', 'healthy.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const config = join(dir, 'tether.yaml');
    await writeFile(
      config,
      `upstream:\n  url: ${registry.url}/v1.0/${t}\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${dir}/state\n` +
        `services:\n  - id: svc-rel\n    check: { exec: [./bin/healthy.sh], interval: 200ms, rise: 1 }\n` +
        `actions:\n  count: { exec: [./bin/count.sh] }\n` +
        `files:\n  - path: out/x\n    from: { key: /app/shared/value }\n    mode: "0600"\n    on_change: count\n` +
        `  - path: out/a.json\n    from: { namespace: /app/shared }\n    on_change: count\n`,
    );
    // The agent's working directory is not the manifest's.
    agent = spawnTether(['agent', '--config', config], {}, tmp.path);
    const api = (await agent.waitForLog((r) => r.msg === 'agent started')).api as string;

    await expect.poll(() => read(join(dir, 'out/x')), { timeout: 5000 }).toBe('one');
    await expect.poll(() => lines(runs), { timeout: 5000 }).toBe(1);
    await expect
      .poll(async () => ((await (await fetch(`${api}/v1/status`)).json()) as { services: Array<{ health: string }> }).services[0]?.health, { timeout: 5000 })
      .toBe('healthy');

    // One change, both files: one run.
    await client.setConfig(t, '/app/shared/value', { value: 'two' });
    await expect.poll(() => read(join(dir, 'out/x')), { timeout: 5000 }).toBe('two');
    await expect.poll(async () => (await read(join(dir, 'out/a.json')))?.includes('two'), { timeout: 5000 }).toBe(true);
    await expect.poll(() => lines(runs), { timeout: 5000 }).toBe(2);
    await new Promise((r) => setTimeout(r, 1000)); // a second run would come within the action's grace
    expect(await lines(runs)).toBe(2);

    // Someone loosens the file's mode; a render with the same bytes applies the manifest's mode again, without a run.
    await chmod(join(dir, 'out/x'), 0o644);
    expect((await fetch(`${api}/v1/reload`, { method: 'POST' })).status).toBe(200);
    await expect.poll(async () => (await stat(join(dir, 'out/x'))).mode & 0o777, { timeout: 5000 }).toBe(0o600);
    expect(await lines(runs)).toBe(2);
  }, 40_000);
});
