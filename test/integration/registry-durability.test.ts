import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { RegistryFault } from '../../src/registry/faults.js';
import type { ConfigValue, Service } from '../../src/registry/types.js';
import { spawnTether, startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * `tether registry` as a process, killed with SIGKILL in the middle of a
 * stream of writes, restarted on the same data: every write it acknowledged
 * is there, through the CLI.
 */

const TENANT = 'durable';
let tmp: TempDir;
/** Every registry started here, stopped in afterAll even when an assertion failed midway. */
const started: RegistryProc[] = [];

beforeAll(async () => {
  tmp = await createTempDir('durability');
});
afterAll(async () => {
  await Promise.all(started.map((r) => r.stop('SIGKILL')));
  await tmp.remove();
});

async function cli(registry: RegistryProc, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnTether([...args, '--url', `${registry.url}/v1.0/${TENANT}`]);
  const { code } = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.log.join('\n') };
}

describe('registry durability', () => {
  it('keeps every acknowledged write across SIGKILL and restart', async () => {
    const data = join(tmp.path, 'data');
    let registry = await startRegistry(data);
    started.push(registry);
    const port = registry.port;

    // Writes through the CLI before the storm.
    expect((await cli(registry, ['config', 'set', '/app/database/host', 'db1.internal'])).code).toBe(0);
    expect((await cli(registry, ['config', 'set', 'plain-key', 'plain value'])).code).toBe(0);

    // A stream of writes from 8 concurrent writers; SIGKILL lands in the middle.
    const client = new HttpRegistry({ url: registry.url, timeoutMs: 2000 });
    const ackedConfig = new Map<string, string>();
    const ackedServices = new Set<string>();
    let stop = false;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const key = `/stream/writer${w}/key-${i % 40}`;
        const value = `w${w}-v${i}`;
        try {
          if (i % 5 === 0) {
            const id = `svc-w${w}-${i}`;
            await client.createService(TENANT, { id, heartbeat_timeout: 120, tags: ['stream'] });
            ackedServices.add(id);
          } else {
            await client.setConfig(TENANT, key, { value });
            ackedConfig.set(key, value);
          }
        } catch (err) {
          if (err instanceof RegistryFault) throw err; // a refused write is a bug here, not the crash
          return; // the registry died under this request: not acknowledged
        }
      }
    };
    const writers = Array.from({ length: 8 }, (_, w) => writer(w));
    await expect.poll(() => ackedConfig.size + ackedServices.size, { timeout: 10_000 }).toBeGreaterThan(300);
    const killed = await registry.stop('SIGKILL');
    stop = true;
    await Promise.all(writers);
    await client.close();
    expect(killed.signal).toBe('SIGKILL');

    registry = await startRegistry(data, port);
    started.push(registry);
    try {
      const config = await cli(registry, ['config', 'list', '--json']);
      expect(config.code).toBe(0);
      const values = new Map((JSON.parse(config.stdout) as ConfigValue[]).map((v) => [v.id, v.value]));
      expect(values.get('/app/database/host')).toBe('db1.internal');
      expect(values.get('plain-key')).toBe('plain value');
      // A write may have committed without its reply arriving, so a later value than the last acknowledged one is fine;
      // an older one (or none) would be a lost acknowledged write.
      for (const [key, value] of ackedConfig) {
        const got = values.get(key);
        expect(got, key).toBeDefined();
        const [, w, v] = /^w(\d+)-v(\d+)$/.exec(got as string) as RegExpExecArray;
        const [, w2, v2] = /^w(\d+)-v(\d+)$/.exec(value) as RegExpExecArray;
        expect(w).toBe(w2);
        expect(Number(v)).toBeGreaterThanOrEqual(Number(v2));
      }
      const services = await cli(registry, ['services', 'list', '--json']);
      expect(services.code).toBe(0);
      const ids = new Set((JSON.parse(services.stdout) as Service[]).map((s) => s.id));
      for (const id of ackedServices) expect(ids.has(id), id).toBe(true);

      const one = await cli(registry, ['config', 'get', '/app/database/host']);
      expect(one.stdout).toBe('db1.internal\n');
    } finally {
      await registry.stop();
    }
  }, 60_000);
});
