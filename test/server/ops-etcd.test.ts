import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, startEtcdRegistry, uniquePrefix, type EtcdCluster } from '../helpers/etcd.js';
import type { RegistryProc } from '../helpers/procs.js';
import { sampleValue } from './prom-text.js';

/** /readyz of a real `tether registry --store etcd` follows etcd: 503 while etcd is down, 200 again when it is back. */

let etcd: EtcdCluster;
let registry: RegistryProc;

beforeAll(async () => {
  etcd = await startEtcd(1);
  registry = await startEtcdRegistry(etcd.endpoints, uniquePrefix(), 0, ['--etcd-timeout', '500ms']);
}, 40_000);
afterAll(async () => {
  await registry?.stop();
  await etcd?.stop();
});

async function readyz(): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${registry.url}/readyz`);
  return { status: res.status, body: await res.json() };
}

describe('tether registry --store etcd: /readyz', () => {
  it('is ready while etcd answers, 503 "store unreachable" while it is stopped, ready again after', async () => {
    expect(await readyz()).toEqual({ status: 200, body: { ready: true } });

    const member = etcd.members[0];
    if (member === undefined) throw new Error('no etcd member');
    await member.kill();
    await expect.poll(readyz, { timeout: 15_000, interval: 250 }).toEqual({ status: 503, body: { ready: false, reason: 'store unreachable' } });
    // Alive all the same: a liveness probe must not restart a server whose store is away.
    expect((await fetch(`${registry.url}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${registry.url}/metrics`)).text();
    expect(sampleValue(metrics, 'tether_store_errors_total', { op: 'revision' })).toBeGreaterThanOrEqual(1);

    await member.restart();
    await expect.poll(readyz, { timeout: 20_000, interval: 250 }).toEqual({ status: 200, body: { ready: true } });
  }, 60_000);
});
