import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcdRegistry, uniquePrefix, useEtcd } from '../helpers/etcd.js';
import type { RegistryProc } from '../helpers/procs.js';
import { defaultHeaders, queuesClient, type QueuesClient } from '../server/queues-helpers.js';

/**
 * U-32: a storage failure answers 503 `Service temporarily unavailable` with
 * `Retry-After: 30` on every queues route, and a failed PUT sets no Location.
 * The failure is real: the etcd under a `tether registry --store etcd`
 * process is killed, then started again.
 */

const etcd = useEtcd();
let registry: RegistryProc;
let c: QueuesClient;
const ids = { message: '', claim: '' };

beforeAll(async () => {
  registry = await startEtcdRegistry(etcd().endpoints, uniquePrefix(), 0, ['--etcd-timeout', '500ms']);
  c = queuesClient(registry.port, defaultHeaders());
  expect((await c.put('/v1/queues/outage')).status).toBe(201);
  const post = await c.post('/v1/queues/outage/messages', [{ ttl: 300, body: 1 }, { ttl: 300, body: 2 }]);
  ids.message = (post.json.resources[0] as string).split('/').pop() as string;
  const claim = await c.post('/v1/queues/outage/claims?limit=1', { ttl: 300, grace: 60 });
  ids.claim = (claim.headers.location as string).split('/').pop() as string;
}, 60_000);

afterAll(async () => {
  await registry?.stop();
});

describe('queues over a failed store', () => {
  it('U-32 every route answers 503 with Retry-After: 30 and the spec title; a failed PUT has no Location', async () => {
    await etcd().members[0]?.kill();
    const q = '/v1/queues/outage';
    const calls: Array<[string, () => ReturnType<QueuesClient['get']>]> = [
      ['queue PUT', () => c.put('/v1/queues/outage-new')],
      ['metadata GET', () => c.get(`${q}/metadata`)],
      ['stats', () => c.get(`${q}/stats`)],
      ['list', () => c.get('/v1/queues')],
      ['queue DELETE', () => c.del(q)],
      ['message POST', () => c.post(`${q}/messages`, [{ ttl: 60, body: 3 }])],
      ['message GET', () => c.get(`${q}/messages/${ids.message}`)],
      ['message DELETE', () => c.del(`${q}/messages/${ids.message}?claim_id=${ids.claim}`)],
      ['claim POST', () => c.post(`${q}/claims`, { ttl: 60, grace: 60 })],
      ['claim GET', () => c.get(`${q}/claims/${ids.claim}`)],
      ['claim PATCH', () => c.patch(`${q}/claims/${ids.claim}`, { ttl: 120 })],
      ['claim DELETE', () => c.del(`${q}/claims/${ids.claim}`)],
      ['health', () => c.get('/v1/health')],
    ];
    for (const [what, call] of calls) {
      const r = await call();
      expect(r.status, what).toBe(503);
      expect(r.headers['retry-after'], what).toBe('30');
      if (what !== 'health') expect(r.json?.title, what).toBe('Service temporarily unavailable');
      expect(r.headers.location, what).toBeUndefined();
    }
  }, 60_000);

  it('answers again once the store is back', async () => {
    await etcd().members[0]?.restart();
    await expect.poll(async () => (await c.get('/v1/health')).status, { timeout: 30_000, interval: 200 }).toBe(204);
    const r = await c.get(`/v1/queues/outage/messages/${ids.message}`);
    expect(r.status).toBe(200);
    expect(r.json.body).toBe(1);
  }, 60_000);
});
