import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { startEtcdRegistry, uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';
import type { RegistryProc } from '../helpers/procs.js';
import { createTempDir } from '../helpers/tmp.js';
import { metric, postMessage, que, reg } from './wire.js';

const cluster = useEtcd();
let procs: RegistryProc[] = [];
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  procs = [];
  for (const c of cleanups.splice(0)) await c();
});

async function server(prefix: string, extra: string[], endpoints = cluster().endpoints): Promise<string> {
  const proc = await startEtcdRegistry(endpoints, prefix, 0, extra);
  procs.push(proc);
  return proc.url;
}

describe('quotas over etcd, two registry servers sharing one prefix', () => {
  it('both servers hold the same tenant cap and tenant quota: usage follows the store, not the server that wrote', async () => {
    const prefix = uniquePrefix();
    const flags = ['--max-tenants', '1', '--tenant-quota-bytes', '2500'];
    const a = await server(prefix, flags);
    const b = await server(prefix, flags);
    expect((await reg(a, 'PUT', '/alpha/configuration/big', { value: 'a'.repeat(1000) })).status).toBe(204);
    // Server b learns of alpha (and its bytes) from etcd's watch stream.
    await expect.poll(() => metric(b, 'tether_tenant_storage_bytes{tenant="alpha"}'), { timeout: 10_000 }).toBeGreaterThan(1000);
    expect(await metric(b, 'tether_tenants')).toBe(1);
    const refused = await reg(b, 'PUT', '/beta/configuration/key1', { value: 'v' });
    expect(refused.status).toBe(400);
    expect(refused.json()).toMatchObject({ type: 'limitReached', details: 'Limit for resource tenant has been reached. Maximum allowed objects: 1' });

    expect((await que(b, 'alpha', 'PUT', '/queues/jobs')).status).toBe(201);
    expect((await postMessage(b, 'alpha', 'jobs', 1000)).status).toBe(201);
    await expect.poll(() => metric(a, 'tether_tenant_storage_bytes{tenant="alpha"}'), { timeout: 10_000 }).toBeGreaterThan(2000);
    const over = await reg(a, 'PUT', '/alpha/configuration/more', { value: 'b'.repeat(600) });
    expect(over.status).toBe(400);
    expect(over.json()).toMatchObject({ type: 'limitReached', details: 'Limit for resource storage_bytes has been reached. Maximum allowed bytes: 2500' });
    // A third server started later derives the same figures from the store.
    const c = await server(prefix, flags);
    expect(await metric(c, 'tether_tenant_storage_bytes{tenant="alpha"}')).toBe(await metric(a, 'tether_tenant_storage_bytes{tenant="alpha"}'));
  });

  it('--max-db-bytes over etcd: 507 once dbSizeInUse passes it, reads and deletes still served', async () => {
    const probe = await server(uniquePrefix(), []);
    const before = await metric(probe, 'tether_db_bytes');
    expect(before).toBeGreaterThan(0);
    const url = await server(uniquePrefix(), ['--max-db-bytes', String(before! + 512 * 1024)]);
    expect((await reg(url, 'PUT', '/alpha/configuration/kept', { value: 'still here' })).status).toBe(204);
    expect((await que(url, 'alpha', 'PUT', '/queues/fill')).status).toBe(201);
    let full: Awaited<ReturnType<typeof que>> | undefined;
    for (let i = 0; i < 400 && full === undefined; i++) {
      const res = await que(url, 'alpha', 'POST', '/queues/fill/messages', Array.from({ length: 4 }, () => ({ ttl: 3600, body: 'z'.repeat(16_000) })));
      if (res.status === 507) full = res;
      else expect(res.status).toBe(201);
      // The size is read every second: a pause lets the reading catch up with the writes.
      if (full === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect(full?.json()).toMatchObject({ title: 'Insufficient storage' });
    expect((full?.json() as { description: string }).description).toMatch(/quota \d+ bytes/);
    expect((await reg(url, 'PUT', '/alpha/configuration/new', { value: 'x' })).status).toBe(507);
    expect((await reg(url, 'GET', '/alpha/configuration/kept')).json()).toMatchObject({ value: 'still here' });
    expect((await reg(url, 'DELETE', '/alpha/configuration/kept')).status).toBe(204);
    expect((await que(url, 'alpha', 'DELETE', '/queues/fill')).status).toBe(204);
  }, 120_000);

  it('etcd\'s own NOSPACE alarm (--quota-backend-bytes) answers 507 on both APIs while reads still work', async () => {
    const dir = await createTempDir('etcd-nospace');
    const client = `http://127.0.0.1:${await freePort()}`;
    const peer = `http://127.0.0.1:${await freePort()}`;
    const etcd: ChildProcess = spawn(
      process.env.ETCD_BIN ?? '/usr/bin/etcd',
      ['--name', 'n', '--data-dir', `${dir.path}/n`, '--listen-client-urls', client, '--advertise-client-urls', client,
        '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `n=${peer}`,
        '--quota-backend-bytes', String(2 * 1024 * 1024), '--max-txn-ops', '4096', '--log-level', 'error'],
      { stdio: 'ignore' },
    );
    cleanups.push(async () => {
      const exited = new Promise((r) => etcd.once('exit', r));
      etcd.kill('SIGKILL');
      await exited;
      await dir.remove();
    });
    await expect.poll(async () => (await fetch(`${client}/health`).then((r) => r.json()).catch(() => ({}))) as { health?: string }, { timeout: 20_000 }).toMatchObject({ health: 'true' });
    const url = await server(uniquePrefix(), [], [client]);
    expect((await reg(url, 'PUT', '/alpha/configuration/kept', { value: 'still here' })).status).toBe(204);
    expect((await que(url, 'alpha', 'PUT', '/queues/fill')).status).toBe(201);
    let full: Awaited<ReturnType<typeof que>> | undefined;
    for (let i = 0; i < 400 && full === undefined; i++) {
      const res = await que(url, 'alpha', 'POST', '/queues/fill/messages', Array.from({ length: 4 }, () => ({ ttl: 3600, body: 'z'.repeat(16_000) })));
      if (res.status === 507) full = res;
      else expect(res.status).toBe(201);
      // The size is read every second: a pause lets the reading catch up with the writes.
      if (full === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect(full?.json()).toMatchObject({ title: 'Insufficient storage' });
    expect((full?.json() as { description: string }).description).toMatch(/NOSPACE/);
    const write = await reg(url, 'PUT', '/alpha/configuration/new', { value: 'x' });
    expect(write.status).toBe(507);
    expect(write.json()).toMatchObject({ type: 'insufficientStorage', code: 507 });
    expect((await reg(url, 'GET', '/alpha/configuration/kept')).json()).toMatchObject({ value: 'still here' });
    expect((await que(url, 'alpha', 'GET', '/queues/fill/stats')).status).toBe(200);
    expect(await metric(url, 'tether_quota_refusals_total{quota="db_full"}')).toBeGreaterThanOrEqual(2);
  }, 120_000);
});
