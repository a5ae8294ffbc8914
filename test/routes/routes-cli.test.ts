import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { spawnTether, startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir } from '../helpers/tmp.js';

/** `tether routes ...` against a real `tether registry` process. */
let server: RegistryProc;
let registry: HttpRegistry;
let url: string;

beforeAll(async () => {
  server = await startRegistry((await createTempDir('routes-cli')).path);
  registry = new HttpRegistry({ url: server.url });
  url = `${server.url}/v1.0/cli`;
}, 30_000);

afterAll(async () => {
  await registry?.close();
  await server?.stop();
});

async function tether(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnTether(['routes', ...args, '--url', url]);
  const { code } = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.log.join('\n') };
}

describe('tether routes', () => {
  it('sets, lists, gets and deletes a route; a fault prints the server message and exits non-zero', async () => {
    expect(await tether('set', 'web', 'jobs', '--type', 'configuration_value.update', '--key-prefix', '/app/', '--ttl', '600')).toMatchObject({ code: 0, stdout: 'created\n' });
    expect(await tether('set', 'web', 'jobs', '--type', 'configuration_value.update', '--key-prefix', '/app/', '--ttl', '600')).toMatchObject({ code: 0, stdout: 'updated\n' });
    await registry.setConfig('cli', '/app/color', { value: 'blue' });
    await expect
      .poll(async () => (JSON.parse((await tether('get', 'web', '--json')).stdout) as { delivered: number }).delivered, { timeout: 20_000 })
      .toBe(1);
    const json = JSON.parse((await tether('list', '--json')).stdout) as unknown[];
    expect(json).toMatchObject([{ id: 'web', queue: 'jobs', types: ['configuration_value.update'], key_prefixes: ['/app/'], service_tags: [], ttl: 600, delivered: 1 }]);
    const table = (await tether('list')).stdout.split('\n');
    expect(table[0]).toMatch(/^ID\s+QUEUE\s+TYPES\s+TAGS\s+KEY PREFIXES\s+TTL\s+DELIVERED\s+LAST EVENT/);
    expect(table[1]).toMatch(/^web\s+jobs\s+configuration_value.update\s+\*\s+\/app\/\s+600\s+1\s+[0-9a-f-]{36}/);

    const bad = await tether('set', 'web', 'jobs', '--type', 'nope');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("Validation error for key 'types'");
    expect((await tether('delete', 'web')).code).toBe(0);
    const gone = await tether('get', 'web');
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toContain('does not exist');
    expect((await tether('list', '--json')).stdout.trim()).toBe('[]');
  }, 60_000);
});
