import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { isFault } from '../../src/registry/faults.js';
import { buildCli, removeBuild, startRegistryProcess, tether, type RegistryProcess } from './cli-process.js';

/**
 * `tether services update` against a real registry whose access log
 * (stderr, one JSON line per request) shows what the command sent: only
 * the fields given, and one read of the service only when metadata is merged.
 */
let main: string;
let ownBuild = false;
let reg: RegistryProcess;
let http: HttpRegistry;
let seq = 0;

vi.setConfig({ testTimeout: 120_000 });

beforeAll(async () => {
  const provided = inject('cliMain') as string | undefined;
  ownBuild = provided === undefined;
  main = provided ?? (await buildCli());
  reg = await startRegistryProcess(main, ['--access-log', 'stderr']);
  http = new HttpRegistry({ url: reg.url });
}, 90_000);

afterAll(async () => {
  await http?.close();
  await reg?.stop();
  if (main && ownBuild) await removeBuild(main);
});

/** `METHOD route` of every request of `tenant` so far (a request of a tenant of its own, sent last, flushes the log). */
async function requestsOf(tenant: string): Promise<string[]> {
  const sentinel = `sentinel-${++seq}`;
  await http.getService(sentinel, 'absent-service').catch((err: unknown) => {
    if (!isFault(err, 'notFoundError')) throw err;
  });
  const lines = (): { method?: string; route?: string; tenant?: string }[] =>
    reg.log.filter((l) => l.includes('"route"')).map((l) => JSON.parse(l) as { method?: string; route?: string; tenant?: string });
  await expect.poll(() => lines().some((l) => l.tenant === sentinel), { timeout: 10_000 }).toBe(true);
  return lines().filter((l) => l.tenant === tenant).map((l) => `${l.method} ${l.route}`);
}

describe('tether services update', () => {
  it('sends only the fields given: tags alone are one PUT that keeps metadata another writer set; metadata is one read, then one PUT', async () => {
    const tenant = 'upd';
    const env = { TETHER_URL: `${reg.url}/v1.0/${tenant}` };
    await http.createService(tenant, { id: 'api', heartbeat_timeout: 60, metadata: { a: '1' } });
    // Another writer, after our CLI user last looked.
    await http.updateService(tenant, 'api', { metadata: { a: '1', b: '2' } });
    const before = (await requestsOf(tenant)).length;
    expect((await tether(main, ['services', 'update', 'api', '--tag', 'v2'], env)).code).toBe(0);
    expect((await requestsOf(tenant)).slice(before)).toEqual(['PUT /v1.0/{tenant}/services/{id}']);
    expect(await http.getService(tenant, 'api')).toMatchObject({ tags: ['v2'], metadata: { a: '1', b: '2' } });
    const mid = (await requestsOf(tenant)).length;
    expect((await tether(main, ['services', 'update', 'api', '--meta', 'c=3', '--meta', 'a='], env)).code).toBe(0);
    expect((await requestsOf(tenant)).slice(mid)).toEqual(['GET /v1.0/{tenant}/services/{id}', 'PUT /v1.0/{tenant}/services/{id}']);
    expect(await http.getService(tenant, 'api')).toMatchObject({ tags: ['v2'], metadata: { b: '2', c: '3' } });
  });

  it('says in --help that metadata updates read then write, so concurrent ones race', async () => {
    const r = await tether(main, ['services', 'update', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.replace(/\s+/g, ' ')).toContain('concurrent updates of one service\'s metadata race, the last write wins');
  });
});
