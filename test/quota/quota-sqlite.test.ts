import { describe, expect, it } from 'vitest';
import { spawnTether } from '../helpers/procs.js';
import { useRegistryProcs } from './registry-procs.js';
import { metric, postMessage, que, reg } from './wire.js';

const { start, stopAll } = useRegistryProcs();

describe('quota flags', () => {
  it('refuses bad values with a usage error (exit 2) before opening anything', async () => {
    for (const [flag, value] of [['--max-tenants', '0'], ['--tenant-quota-bytes', '10XB'], ['--max-db-bytes', '0']] as const) {
      const proc = spawnTether(['registry', '--listen', '127.0.0.1:0', '--data', '/nonexistent/never-created', flag, value]);
      expect((await proc.exited).code).toBe(2);
      expect(proc.log.join('\n')).toContain(flag);
    }
  });
});

describe('tenant cap (--max-tenants), real registry process on SQLite', () => {
  it('refuses a third tenant on both APIs with a fault body, keeps serving the first two, and counts them in /metrics', async () => {
    const { url } = await start(['--max-tenants', '2']);
    expect((await reg(url, 'PUT', '/alpha/configuration/key1', { value: 'v' })).status).toBe(204);
    expect((await que(url, 'beta', 'PUT', '/queues/jobs')).status).toBe(201);

    const refused = await reg(url, 'PUT', '/gamma/configuration/key1', { value: 'v' });
    expect(refused.status).toBe(400);
    expect(refused.json()).toMatchObject({ type: 'limitReached', code: 400, message: 'Resource limit has been reached', details: 'Limit for resource tenant has been reached. Maximum allowed objects: 2' });
    expect(refused.headers['x-response-id']).toBeTypeOf('string');
    const queued = await que(url, 'gamma', 'PUT', '/queues/jobs');
    expect(queued.status).toBe(400);
    expect(queued.json()).toMatchObject({ title: 'Invalid API call' });
    expect((queued.json() as { description: string }).description).toMatch(/maximum of 2 tenants/);

    // Existing tenants are untouched by the cap.
    expect((await reg(url, 'PUT', '/alpha/configuration/key2', { value: 'w' })).status).toBe(204);
    expect((await postMessage(url, 'beta', 'jobs', 10)).status).toBe(201);
    expect(await metric(url, 'tether_tenants')).toBe(2);
    expect(await metric(url, 'tether_quota_limit{quota="tenants"}')).toBe(2);
    expect(await metric(url, 'tether_quota_refusals_total{quota="tenants"}')).toBe(2);
    // A refusal is the quota's answer, not a failing store.
    expect((await metric(url, 'tether_store_errors_total{op="txn"}')) ?? 0).toBe(0);
  });
});

describe('tenant storage quota (--tenant-quota-bytes), real registry process on SQLite', () => {
  it('counts values and messages together, frees on delete, and derives the same usage after a restart', async () => {
    const { url, dir } = await start(['--tenant-quota-bytes', '3000']);
    expect((await reg(url, 'PUT', '/alpha/configuration/big', { value: 'a'.repeat(1000) })).status).toBe(204);
    expect((await que(url, 'alpha', 'PUT', '/queues/jobs')).status).toBe(201);
    expect((await postMessage(url, 'alpha', 'jobs', 1000)).status).toBe(201);
    const used = await metric(url, 'tether_tenant_storage_bytes{tenant="alpha"}');
    expect(used).toBeGreaterThan(2000);
    expect(used).toBeLessThan(2400);

    // A value, then a message, beyond the quota: the spec's resource-limit faults.
    const value = await reg(url, 'PUT', '/alpha/configuration/more', { value: 'b'.repeat(1000) });
    expect(value.status).toBe(400);
    expect(value.json()).toMatchObject({ type: 'limitReached', details: 'Limit for resource storage_bytes has been reached. Maximum allowed bytes: 3000' });
    const message = await postMessage(url, 'alpha', 'jobs', 1000);
    expect(message.status).toBe(400);
    expect(message.json()).toMatchObject({ title: 'Invalid API call' });
    // Another tenant has its own quota; a shrink is always allowed.
    expect((await reg(url, 'PUT', '/beta/configuration/big', { value: 'c'.repeat(1000) })).status).toBe(204);
    expect((await reg(url, 'PUT', '/alpha/configuration/big', { value: 'small' })).status).toBe(204);
    expect((await reg(url, 'PUT', '/alpha/configuration/more', { value: 'b'.repeat(1000) })).status).toBe(204);
    const before = await metric(url, 'tether_tenant_storage_bytes{tenant="alpha"}');

    // Restarted over the same data, the usage is read back from the store.
    await stopAll();
    const again = await start(['--tenant-quota-bytes', '3000'], dir);
    expect(await metric(again.url, 'tether_tenant_storage_bytes{tenant="alpha"}')).toBe(before);
    expect((await postMessage(again.url, 'alpha', 'jobs', 1000)).status).toBe(400);
    // Deleting the queue frees its messages' bytes.
    expect((await que(again.url, 'alpha', 'DELETE', '/queues/jobs')).status).toBe(204);
    await expect.poll(() => metric(again.url, 'tether_tenant_storage_bytes{tenant="alpha"}'), { timeout: 10_000 }).toBeLessThan(before! - 1000);
    expect((await que(again.url, 'alpha', 'PUT', '/queues/jobs')).status).toBe(201);
    expect((await postMessage(again.url, 'alpha', 'jobs', 1000)).status).toBe(201);
  });
});

describe('database quota (--max-db-bytes), real registry process on SQLite', () => {
  it('refuses writes with 507 once the database is full, still serves reads and deletes, and accepts writes once space is freed', async () => {
    const { url } = await start(['--max-db-bytes', '600K']);
    expect((await que(url, 'alpha', 'PUT', '/queues/fill')).status).toBe(201);
    expect((await reg(url, 'PUT', '/alpha/configuration/kept', { value: 'still here' })).status).toBe(204);
    let full: Awaited<ReturnType<typeof postMessage>> | undefined;
    for (let i = 0; i < 200 && full === undefined; i++) {
      const res = await que(url, 'alpha', 'POST', '/queues/fill/messages', Array.from({ length: 4 }, () => ({ ttl: 3600, body: 'z'.repeat(16_000) })));
      if (res.status === 507) full = res;
      else expect(res.status).toBe(201);
      // The size is read every second: a pause lets the reading catch up with the writes.
      if (full === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect(full?.json()).toMatchObject({ title: 'Insufficient storage' });
    expect(await metric(url, 'tether_db_bytes')).toBeGreaterThanOrEqual(600 * 1024);

    const write = await reg(url, 'PUT', '/alpha/configuration/new', { value: 'x' });
    expect(write.status).toBe(507);
    expect(write.json()).toMatchObject({ type: 'insufficientStorage', code: 507, message: 'Insufficient storage' });
    expect((write.json() as { details: string }).details).toMatch(/reads and deletes still work/);
    // Reads and deletes still work.
    expect((await reg(url, 'GET', '/alpha/configuration/kept')).json()).toMatchObject({ value: 'still here' });
    expect((await que(url, 'alpha', 'GET', '/queues/fill/stats')).status).toBe(200);
    expect((await reg(url, 'DELETE', '/alpha/configuration/kept')).status).toBe(204);
    expect((await que(url, 'alpha', 'DELETE', '/queues/fill')).status).toBe(204);
    // Freed pages count at the next size reading (every second).
    await expect.poll(async () => (await reg(url, 'PUT', '/alpha/configuration/new', { value: 'x' })).status, { timeout: 10_000, interval: 300 }).toBe(204);
    expect(await metric(url, 'tether_quota_refusals_total{quota="db_full"}')).toBeGreaterThanOrEqual(2);
  });
});
