import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { TetherError } from '../../src/lib/errors.js';
import type { Server } from './child.js';
import type { Cleanup } from './cleanup.js';
import { startTether } from './tether.js';

/**
 * The fixtures of the agent bench: the probe target, the manifest, and a
 * `tether registry` whose tenants may hold the manifest's services.
 */

export interface Target {
  port: number;
  /** Requests answered so far. */
  requests(): number;
  /** TCP connections accepted so far (few means the probes reuse keep-alive sockets). */
  connections(): number;
}

/** One HTTP server in this process answering `200 ok` on any path (keep-alive), closed by `cleanup`. */
export async function startTarget(cleanup: Cleanup): Promise<Target> {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' }).end('ok');
  });
  let connections = 0;
  server.on('connection', () => void connections++);
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  cleanup.add({
    name: 'probe target',
    close: () => new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections()),
    kill: () => void server.closeAllConnections(),
  });
  return { port: (server.address() as AddressInfo).port, requests: () => requests, connections: () => connections };
}

export interface ManifestSpec {
  /** `http://127.0.0.1:PORT` of the registry. */
  registry: string;
  tenant: string;
  services: number;
  targetPort: number;
  stateDir: string;
}

/** `svc-000`, `svc-001`, ... (at least three digits: ids are 3..65 characters). */
export const serviceId = (i: number, n: number): string => `svc-${String(i).padStart(Math.max(3, String(n - 1).length), '0')}`;

/**
 * Writes the manifest: `n` services, each with a tag, two metadata entries,
 * heartbeat_timeout 30 and an HTTP check of its own path on the target every
 * 10 s; one session for all of them; the local API on a free port.
 */
export async function writeManifest(path: string, m: ManifestSpec): Promise<void> {
  const lines = [
    'upstream:',
    `  url: ${m.registry}/v1.0/${m.tenant}`,
    'agent:',
    '  listen: 127.0.0.1:0',
    `  state_dir: ${JSON.stringify(m.stateDir)}`,
    '  heartbeat: session',
    'services:',
  ];
  for (let i = 0; i < m.services; i++) {
    const id = serviceId(i, m.services);
    lines.push(
      `  - id: ${id}`,
      '    tags: [bench]',
      `    metadata: { zone: bench-a, port: "${10_000 + i}" }`,
      '    heartbeat_timeout: 30',
      `    check: { http: "http://127.0.0.1:${m.targetPort}/health/${id}", interval: 10s, timeout: 2s }`,
    );
  }
  await writeFile(path, `${lines.join('\n')}\n`);
}

/**
 * `tether registry` (dist/, a child process, as `startTether` runs it) whose
 * `tenants` may each hold `services` services: a tenant gets 200 by default,
 * so the registry runs with `--limits service=N`.
 */
export async function startSeededTether(cleanup: Cleanup, tenants: readonly string[], services: number, nodeArgs: readonly string[]): Promise<Server> {
  const account = { limits: { service: Math.max(200, services) } };
  const server = await startTether(cleanup, { nodeArgs, args: ['--limits', `service=${account.limits.service}`] });
  for (const t of tenants) {
    const res = await request(`${server.url}/v1.0/${t}/limits`);
    const got = ((await res.body.json()) as { resource?: { service?: unknown } }).resource?.service;
    if (got !== account.limits.service) {
      throw new TetherError('bench.serverStart', `tenant ${t}: service limit ${String(got)}, want ${account.limits.service} (--limits not applied)`);
    }
  }
  return server;
}
