import { describe, expect, it } from 'vitest';
import type { TempDir } from '../helpers/tmp.js';
import { useRegistryProcs } from './registry-procs.js';
import { metric, que, reg } from './wire.js';

/**
 * What counts toward --max-tenants: a tenant that stored something (a
 * registry write, a session, an event route, a queue), not one that was only
 * read, and no longer a queues-only project whose last queue is gone. Real
 * registry processes on SQLite.
 */

const registries = useRegistryProcs();

async function start(dir: TempDir): Promise<string> {
  return (await registries.start(['--max-tenants', '2'], dir)).url;
}

const POLL = { timeout: 10_000, interval: 50 };

describe('--max-tenants counts tenants with data', () => {
  it('anonymous reads of unknown tenants do not fill the cap; a deleted queues-only project stops counting, across a restart too', async () => {
    const dir = await registries.dir('quota-tenants');
    let url = await start(dir);
    for (let i = 0; i < 5; i++) {
      expect((await reg(url, 'GET', `/reader-${i}/services`)).status).toBe(200);
      expect((await reg(url, 'GET', `/reader-${i}/configuration`)).status).toBe(200);
      expect((await que(url, `qreader-${i}`, 'GET', '/queues')).status).toBeLessThan(300);
      expect((await que(url, `qreader-${i}`, 'GET', '/queues/nope/stats')).status).toBe(404);
    }
    expect(await metric(url, 'tether_tenants')).toBe(0);

    // Two tenants that write: both admitted; a third is refused.
    expect((await reg(url, 'PUT', '/alpha/configuration/key1', { value: 'v' })).status).toBe(204);
    expect((await que(url, 'beta', 'PUT', '/queues/jobs')).status).toBe(201);
    expect((await que(url, 'beta', 'PUT', '/queues/more')).status).toBe(201);
    await expect.poll(() => metric(url, 'tether_tenants'), POLL).toBe(2);
    expect((await reg(url, 'PUT', '/gamma/configuration/key1', { value: 'v' })).status).toBe(400);
    // A reader of the full server still reads.
    expect((await reg(url, 'GET', '/reader-9/services')).status).toBe(200);

    // beta's queues go: one left still counts, none does not.
    expect((await que(url, 'beta', 'DELETE', '/queues/jobs')).status).toBe(204);
    expect((await reg(url, 'PUT', '/gamma/configuration/key1', { value: 'v' })).status).toBe(400);
    expect((await que(url, 'beta', 'DELETE', '/queues/more')).status).toBe(204);
    await expect.poll(() => metric(url, 'tether_tenants'), POLL).toBe(1);
    expect((await reg(url, 'PUT', '/gamma/configuration/key1', { value: 'v' })).status).toBe(204);
    await expect.poll(() => metric(url, 'tether_tenants'), POLL).toBe(2);

    // Restarted over the same data: the same count, read back from the store.
    await registries.stopAll();
    url = await start(dir);
    expect(await metric(url, 'tether_tenants')).toBe(2);
    expect((await que(url, 'beta', 'PUT', '/queues/jobs')).status).toBe(400);
  });

  // Review R9 F2: creating a session appends no event, so it writes no last-event key; the session record counts.
  it("a new tenant's first session is refused at the cap; a session-only tenant counts, across a restart too, and stops counting when its session goes", async () => {
    const dir = await registries.dir('quota-tenants-sessions');
    let url = await start(dir);
    expect((await reg(url, 'PUT', '/alpha/configuration/key1', { value: 'v' })).status).toBe(204);
    const created = await reg(url, 'POST', '/sess-0/sessions', { heartbeat_timeout: 30 });
    expect(created.status).toBe(201);
    await expect.poll(() => metric(url, 'tether_tenants'), POLL).toBe(2);
    const statuses: number[] = [];
    for (let i = 1; i <= 3; i++) statuses.push((await reg(url, 'POST', `/sess-${i}/sessions`, { heartbeat_timeout: 30 })).status);
    expect(statuses).toEqual([400, 400, 400]);

    await registries.stopAll();
    url = await start(dir);
    expect(await metric(url, 'tether_tenants')).toBe(2);
    expect((await reg(url, 'POST', '/sess-1/sessions', { heartbeat_timeout: 30 })).status).toBe(400);

    const id = (created.json() as { id: string }).id;
    expect((await reg(url, 'DELETE', `/sess-0/sessions/${id}`)).status).toBe(204);
    await expect.poll(() => metric(url, 'tether_tenants'), POLL).toBe(1);
    expect((await reg(url, 'POST', '/sess-1/sessions', { heartbeat_timeout: 30 })).status).toBe(201);
  });
});
