import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { startRegistry, type Proc, type RegistryProc } from './procs.js';
import { createTempDir, type TempDir } from './tmp.js';

/** What an agent test file runs against: a temp dir, a real registry process in it, a client of it. */
export interface RegistryEnv {
  tmp: TempDir;
  registry: RegistryProc;
  client: HttpRegistry;
  /** Agent processes of the running test: SIGKILLed after each test. */
  procs: Proc[];
}

/**
 * Registers the file's hooks: a temp dir named after `name` and a registry
 * in it before all tests, the test's `procs` killed after each, everything
 * stopped and removed after all. The fields are set once beforeAll ran.
 */
export function useRegistry(name: string): RegistryEnv {
  const env = { procs: [] as Proc[] } as unknown as RegistryEnv;
  beforeAll(async () => {
    env.tmp = await createTempDir(name);
    env.registry = await startRegistry(join(env.tmp.path, 'registry'));
    env.client = new HttpRegistry({ url: env.registry.url });
  });
  afterEach(async () => {
    await Promise.all(env.procs.splice(0).map((p) => p.stop('SIGKILL')));
  });
  afterAll(async () => {
    await Promise.all(env.procs.splice(0).map((p) => p.stop('SIGKILL')));
    await env.client?.close();
    await env.registry?.stop();
    await env.tmp?.remove();
  });
  return env;
}

/** The value of the first series of `name` on an agent's /metrics (`name` alone or with labels); NaN when absent. */
export async function metricValue(api: string, name: string): Promise<number> {
  const text = await (await fetch(`${api}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : Number.NaN;
}
