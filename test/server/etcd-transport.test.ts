import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/client.js';
import { parseStoreFlags } from '../../src/cli/commands/registry.js';
import { uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { writeTraceHooks } from '../helpers/module-trace.js';
import { cliMain, spawnProc, spawnTether, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * `tether server --etcd-transport grpc|gateway`: both serve the HTTP APIs
 * over one etcd and see each other's writes; gRPC is the default; the
 * gateway server, `tether --help`, `tether agent --help` and a running agent
 * never load grpc-js (the built CLI under module-tracing hooks).
 */

const etcd = useEtcd();
let tmp: TempDir;
let register: string;
const procs: RegistryProc[] = [];

beforeAll(async () => {
  tmp = await createTempDir('etcd-transport');
  register = await writeTraceHooks(tmp);
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await tmp?.remove();
});

/** A string only grpc-js's own code holds (one of its channel options). */
const GRPC_JS_MARK = 'grpc-node.max_session_memory';

async function loadsGrpcJs(trace: string): Promise<boolean> {
  const urls = new Set((await readFile(trace, 'utf8')).split('\n').filter((u) => u.startsWith('file:')));
  expect(urls.size).toBeGreaterThan(0);
  for (const url of urls) {
    if ((await readFile(fileURLToPath(url), 'utf8')).includes(GRPC_JS_MARK)) return true;
  }
  return false;
}

/** `tether server --store etcd` under the tracing hooks, with `extra` flags; resolves once it listens. */
async function tracedServer(name: string, prefix: string, extra: string[]): Promise<{ url: string; trace: string }> {
  const trace = join(tmp.path, `${name}.trace`);
  const args = ['--import', register, cliMain(), 'server', '--listen', '127.0.0.1:0', '--store', 'etcd', '--etcd-endpoints', etcd().endpoints.join(','), '--etcd-prefix', prefix, ...extra];
  const proc = spawnProc(process.execPath, args, { env: { PATH: process.env.PATH ?? '', TETHER_TRACE_FILE: trace } });
  const url = (await proc.waitForLog((r) => typeof r.url === 'string', 20_000)).url as string;
  procs.push({ ...proc, url, port: Number(new URL(url).port) });
  return { url, trace };
}

describe('tether server --etcd-transport', () => {
  it('a gRPC server and a gateway server over one etcd serve the same data, each seeing the other\'s writes and heartbeats', async () => {
    const prefix = uniquePrefix();
    const viaGrpc = await tracedServer('grpc', prefix, []);
    const viaGateway = await tracedServer('gateway', prefix, ['--etcd-transport', 'gateway']);
    const a = new Client({ url: `${viaGrpc.url}/v1.0/tt`, timeoutMs: 5000 });
    const b = new Client({ url: `${viaGateway.url}/v1.0/tt`, timeoutMs: 5000 });
    try {
      const made = await a.services.create({ id: 'from-grpc', heartbeat_timeout: 30 });
      await b.services.create({ id: 'from-gateway', heartbeat_timeout: 30 });
      expect((await b.services.get('from-grpc')).id).toBe('from-grpc');
      expect((await a.services.get('from-gateway')).id).toBe('from-gateway');
      // A heartbeat chain across the two transports: each token is taken once.
      const t1 = await b.services.heartbeat('from-grpc', made.token!);
      const t2 = await a.services.heartbeat('from-grpc', t1.token);
      await expect(b.services.heartbeat('from-grpc', t1.token)).rejects.toMatchObject({ type: 'notFoundError', status: 404 });
      expect(t2.token).not.toBe(t1.token);
      // Each server's watch stream sees the other's writes: the event list of both holds both joins.
      const joins = async (c: Client): Promise<string[]> => (await c.events.list()).values.filter((e) => e.type === 'service.join').map((e) => (e.payload as { id: string }).id).sort();
      await expect.poll(() => joins(a), { timeout: 10_000 }).toEqual(['from-gateway', 'from-grpc']);
      await expect.poll(() => joins(b), { timeout: 10_000 }).toEqual(['from-gateway', 'from-grpc']);
    } finally {
      await a.close();
      await b.close();
    }
    expect(await loadsGrpcJs(viaGrpc.trace)).toBe(true);
    expect(await loadsGrpcJs(viaGateway.trace)).toBe(false);
  });

  it('a value other than grpc or gateway is a usage error (exit 2); without --store etcd too', async () => {
    const bad = spawnTether(['server', '--store', 'etcd', '--etcd-endpoints', etcd().endpoints[0]!, '--etcd-transport', 'http']);
    expect((await bad.exited).code).toBe(2);
    expect(bad.log.join('\n')).toMatch(/--etcd-transport must be grpc or gateway, got "http"/);
    expect(() => parseStoreFlags({ data: '/tmp/x', 'etcd-transport': 'grpc' })).toThrow(/--etcd-\* flags need --store etcd/);
    expect(parseStoreFlags({ store: 'etcd', 'etcd-endpoints': 'http://127.0.0.1:2379' })).not.toHaveProperty('transport');
    expect(parseStoreFlags({ store: 'etcd', 'etcd-endpoints': 'http://127.0.0.1:2379', 'etcd-transport': 'gateway' })).toMatchObject({ transport: 'gateway' });
  });

  it('tether --help and tether agent --help do not load grpc-js', async () => {
    for (const [name, args] of [['help', ['--help']], ['agent-help', ['agent', '--help']]] as const) {
      const trace = join(tmp.path, `${name}.trace`);
      const p = spawnProc(process.execPath, ['--import', register, cliMain(), ...args], { env: { PATH: process.env.PATH ?? '', TETHER_TRACE_FILE: trace } });
      expect((await p.exited).code).toBe(0);
      expect(await loadsGrpcJs(trace)).toBe(false);
    }
  });

  it('a running tether agent, registered with a registry that reaches etcd over gRPC, does not load grpc-js', async () => {
    const registry = await tracedServer('agent-upstream', uniquePrefix(), []);
    const config = await tmp.write(
      'agent.yaml',
      `upstream:\n  url: ${registry.url}/v1.0/ag\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${join(tmp.path, 'agent-state')}\nservices:\n  - id: svc-1\n    heartbeat_timeout: 3\n    check: { tcp: "${new URL(registry.url).host}", interval: 200ms }\n`,
    );
    const trace = join(tmp.path, 'agent.trace');
    const agent = spawnProc(process.execPath, ['--import', register, cliMain(), 'agent', '--config', config], { env: { PATH: process.env.PATH ?? '', TETHER_TRACE_FILE: trace } });
    const c = new Client({ url: `${registry.url}/v1.0/ag`, timeoutMs: 5000 });
    try {
      // Registered, then heartbeated: the agent has been through its registry round trips.
      await expect.poll(async () => (await c.services.list()).values.map((v) => v.id), { timeout: 20_000 }).toEqual(['svc-1']);
      await expect.poll(async () => (await c.services.get('svc-1')).last_seen, { timeout: 20_000 }).toEqual(expect.any(Number));
    } finally {
      await c.close();
      await agent.stop('SIGKILL');
    }
    expect(await loadsGrpcJs(trace)).toBe(false);
    // The same detection sees grpc-js in the registry this agent talked to.
    expect(await loadsGrpcJs(registry.trace)).toBe(true);
  });
});
