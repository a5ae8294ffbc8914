import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { spawnTether, startRegistry, type Proc, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { startHealthServer, type HealthServer } from './grpc-health-server.js';

/**
 * Issue 18 item 11, end to end: an agent process, a registry process and a
 * real grpc-js health server. A service with several checks (gRPC + TCP) is
 * registered only while every check passes, follows the gRPC server
 * SERVING -> NOT_SERVING -> SERVING, and shows each check in /v1/status and
 * /metrics; a gRPC check of an unknown service (NOT_FOUND) keeps its service
 * out; the single `check:` form still works beside them.
 */

let tmp: TempDir;
let registry: RegistryProc;
let client: HttpRegistry;
let grpc: HealthServer;
let agent: Proc | undefined;

beforeAll(async () => {
  tmp = await createTempDir('agent-checks');
  registry = await startRegistry(join(tmp.path, 'registry'));
  client = new HttpRegistry({ url: registry.url });
  grpc = await startHealthServer();
  grpc.set('app.Api', 'SERVING');
});
afterAll(async () => {
  await agent?.stop('SIGKILL');
  await grpc.stop();
  await client.close();
  await registry.stop('SIGKILL');
  await tmp.remove();
});

interface CheckStatus {
  name: string;
  kind: string;
  health: string;
  last: { ok: boolean; output: string } | null;
}
interface Status {
  services: Array<{ id: string; health: string; registered: boolean; checks: CheckStatus[]; check: string | null }>;
}

async function metricLine(api: string, prefix: string): Promise<string | undefined> {
  const text = await (await fetch(`${api}/metrics`)).text();
  return text.split('\n').find((l) => l.startsWith(prefix));
}

describe('several checks per service, one of them gRPC', () => {
  it('registers while every check passes, follows the gRPC status, and shows each check in status and metrics', async () => {
    const t = `checks-${Date.now()}`;
    const dir = join(tmp.path, 'case');
    await mkdir(dir, { recursive: true });
    const config = join(dir, 'tether.yaml');
    const fast = 'interval: 200ms\n        timeout: 1s\n        fall: 1';
    await writeFile(
      config,
      `upstream:\n  url: ${registry.url}/v1.0/${t}\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${dir}/state\n` +
        'services:\n' +
        `  - id: api-1\n    checks:\n` +
        `      - name: rpc\n        grpc: { address: "127.0.0.1:${grpc.port}", service: app.Api }\n        ${fast}\n` +
        `      - tcp: 127.0.0.1:${grpc.port}\n        ${fast}\n` +
        `  - id: ghost-1\n    checks:\n      - grpc: 127.0.0.1:${grpc.port}\n        ${fast}\n      - grpc: { address: "127.0.0.1:${grpc.port}", service: app.Missing }\n        ${fast}\n` +
        `  - id: plain-1\n    check: { tcp: "127.0.0.1:${grpc.port}", interval: 200ms }\n`,
    );
    agent = spawnTether(['agent', '--config', config]);
    const api = (await agent.waitForLog((r) => r.msg === 'agent started')).api as string;
    const status = async () => (await (await fetch(`${api}/v1/status`)).json()) as Status;
    const service = async (id: string) => (await status()).services.find((s) => s.id === id);
    const registered = async () => (await client.listServices(t)).values.map((s) => s.id).sort();

    await expect.poll(registered, { timeout: 10_000 }).toEqual(['api-1', 'plain-1']);
    const api1 = await service('api-1');
    expect(api1?.checks.map((c) => [c.name, c.kind, c.health])).toEqual([
      ['rpc', 'grpc', 'healthy'],
      ['tcp', 'tcp', 'healthy'],
    ]);
    expect(api1?.checks[0]?.last).toMatchObject({ ok: true, output: expect.stringContaining('"app.Api": SERVING') });
    expect(api1?.check).toContain(`grpc 127.0.0.1:${grpc.port} service app.Api every 200ms; tcp 127.0.0.1:${grpc.port}`);
    // Two checks named by default (grpc-1, grpc-2); the unknown service keeps it unhealthy though the server is SERVING.
    const ghost = await service('ghost-1');
    expect(ghost?.checks.map((c) => [c.name, c.health])).toEqual([
      ['grpc-1', 'healthy'],
      ['grpc-2', 'unhealthy'],
    ]);
    expect(ghost?.checks[1]?.last?.output).toContain('NOT_FOUND');
    expect(ghost?.registered).toBe(false);
    expect(await metricLine(api, 'tether_check_healthy{service="api-1",check="rpc"}')).toMatch(/ 1$/);
    expect(await metricLine(api, 'tether_check_healthy{service="ghost-1",check="grpc-2"}')).toMatch(/ 0$/);

    grpc.set('app.Api', 'NOT_SERVING');
    await expect.poll(registered, { timeout: 10_000 }).toEqual(['plain-1']);
    const down = await service('api-1');
    expect(down?.health).toBe('unhealthy');
    expect(down?.checks.map((c) => c.health)).toEqual(['unhealthy', 'healthy']);
    expect(down?.checks[0]?.last?.output).toContain('NOT_SERVING');
    expect(await metricLine(api, 'tether_check_healthy{service="api-1",check="rpc"}')).toMatch(/ 0$/);
    expect(agent.log.some((l) => l.includes('"check":"rpc"') && l.includes('service is unhealthy'))).toBe(true);

    grpc.set('app.Api', 'SERVING');
    await expect.poll(registered, { timeout: 10_000 }).toEqual(['api-1', 'plain-1']);
    expect((await service('api-1'))?.checks.map((c) => c.health)).toEqual(['healthy', 'healthy']);

    // A reload that drops ghost-1's failing check: it is registered, and the dropped check's series is gone.
    const text = await readFile(config, 'utf8');
    await writeFile(config, text.replace(`\n      - grpc: { address: "127.0.0.1:${grpc.port}", service: app.Missing }\n        ${fast}`, ''));
    await expect.poll(registered, { timeout: 10_000 }).toEqual(['api-1', 'ghost-1', 'plain-1']);
    expect((await service('ghost-1'))?.checks.map((c) => [c.name, c.health])).toEqual([['grpc', 'healthy']]);
    expect(await metricLine(api, 'tether_check_healthy{service="ghost-1",check="grpc-2"}')).toBeUndefined();
    expect(await metricLine(api, 'tether_check_healthy{service="ghost-1",check="grpc"}')).toMatch(/ 1$/);
  });
});
