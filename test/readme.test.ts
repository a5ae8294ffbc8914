import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HeartBeater } from '../src/client/heartbeater.js';
import { HttpRegistry } from '../src/client/http-registry.js';
import { RegistryService } from '../src/registry/service.js';
import { createRegistryServer, type RegistryServer } from '../src/server/index.js';
import { openSqliteStore, type SqliteStore } from '../src/store/sqlite.js';

/** The README's library example, run as written against a real registry. */

const root = join(import.meta.dirname, '..');
let store: SqliteStore;
let registry: RegistryService;
let server: RegistryServer;
let url: string;

beforeAll(async () => {
  store = openSqliteStore({ path: ':memory:' });
  registry = await RegistryService.open(store);
  server = createRegistryServer(registry);
  ({ url } = await server.listen(0, '127.0.0.1'));
});
afterAll(async () => {
  await server.close();
  await registry.close();
  await store.close();
});

describe('README', () => {
  it('library example registers a service and keeps it heartbeating', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    const block = /## Library\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const code = (block as string)
      .replace("from 'tether-sidecar'", `from ${JSON.stringify(join(root, 'src/index.ts'))}`)
      .replace('http://127.0.0.1:8470', url)
      .replace('// ... later:', 'export { client, beater }; //');
    const file = join(root, 'test', `.readme-example-${process.pid}.ts`);
    await writeFile(file, code);
    try {
      const mod = (await import(file)) as { client: { close(): Promise<void> }; beater: HeartBeater };
      const http = new HttpRegistry({ url });
      try {
        const svc = await http.getService('1234', 'api-1');
        expect(svc.tags).toEqual(['api']);
        expect(mod.beater.running).toBe(true);
      } finally {
        await mod.beater.stop();
        await mod.client.close();
        await http.close();
      }
    } finally {
      await rm(file, { force: true });
    }
  });
});
