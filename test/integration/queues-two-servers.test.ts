import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcdRegistry, uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { spawnTether, type RegistryProc } from '../helpers/procs.js';
import { defaultHeaders, messages, queuesClient, type QueuesClient } from '../server/queues-helpers.js';

/**
 * Two `tether server` processes over one etcd, through HTTP: claims made
 * concurrently through both never share a message, and a consumer waiting
 * (`wait=`) on one server is woken by a post through the other.
 */

const etcd = useEtcd();
let a: RegistryProc;
let b: RegistryProc;
let ca: QueuesClient;
let cb: QueuesClient;

beforeAll(async () => {
  const prefix = uniquePrefix();
  [a, b] = await Promise.all([startEtcdRegistry(etcd().endpoints, prefix), startEtcdRegistry(etcd().endpoints, prefix)]);
  ca = queuesClient(a.port, defaultHeaders({ 'x-project-id': 'two' }));
  cb = queuesClient(b.port, defaultHeaders({ 'x-project-id': 'two' }));
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

/** Claims batches of 5 through `c` until the queue has nothing free; returns the claimed message ids. */
async function drain(c: QueuesClient, queue: string): Promise<string[]> {
  const ids: string[] = [];
  for (;;) {
    const r = await c.post(`/v1/queues/${queue}/claims?limit=5`, { ttl: 300, grace: 60 });
    if (r.status === 204) return ids;
    expect(r.status).toBe(201);
    for (const m of r.json as Array<{ href: string }>) ids.push((m.href.split('?')[0] as string).split('/').pop() as string);
  }
}

describe('queues: two servers over one etcd (HTTP)', () => {
  it('100 messages claimed through both servers at once: each exactly once', async () => {
    expect((await ca.put('/v1/queues/shared')).status).toBe(201);
    expect((await cb.put('/v1/queues/shared')).status).toBe(204);
    for (let i = 0; i < 5; i++) expect((await ca.post('/v1/queues/shared/messages', messages(20))).status).toBe(201);
    const lanes = await Promise.all([drain(ca, 'shared'), drain(cb, 'shared'), drain(ca, 'shared'), drain(cb, 'shared')]);
    const all = lanes.flat();
    expect(all).toHaveLength(100);
    expect(new Set(all).size).toBe(100);
    const stats = await cb.get('/v1/queues/shared/stats');
    expect(stats.json.messages).toMatchObject({ claimed: 100, free: 0, total: 100 });
  }, 60_000);

  it('a claim waiting on one server is answered by a post through the other', async () => {
    await ca.put('/v1/queues/wake');
    const started = Date.now();
    const waiting = cb.post('/v1/queues/wake/claims?wait=10', { ttl: 60, grace: 60 });
    // Server b counts the claim as waiting (its /metrics gauge) before anything is posted through a.
    await expect
      .poll(async () => (await (await fetch(`${b.url}/metrics`)).text()).match(/tether_long_polls_waiting\{api="queues"\} (\d+)/)?.[1], {
        timeout: 10_000,
      })
      .toBe('1');
    expect((await ca.post('/v1/queues/wake/messages', [{ ttl: 60, body: 'from a' }])).status).toBe(201);
    const r = await waiting;
    expect(r.status).toBe(201);
    expect(r.json[0].body).toBe('from a');
    expect(Date.now() - started).toBeLessThan(8000);
  }, 30_000);

  it('SIGTERM with a claim waiting: the claim gets 503 + Retry-After, the process exits 0 without an error logged', async () => {
    await ca.put('/v1/queues/sigterm');
    const waiting = ca.post('/v1/queues/sigterm/claims?wait=20', { ttl: 60, grace: 60 });
    await expect
      .poll(async () => (await (await fetch(`${a.url}/metrics`)).text()).match(/tether_long_polls_waiting\{api="queues"\} (\d+)/)?.[1], {
        timeout: 10_000,
      })
      .toBe('1');
    const exited = a.stop();
    const r = await waiting;
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('30');
    expect((await exited).code).toBe(0);
    const errors = a.log.filter((line) => /"level":(50|60)/.test(line));
    expect(errors).toEqual([]);
  }, 30_000);

  it('tether server is the same command as tether registry', async () => {
    const p = spawnTether(['server', '--help']);
    expect((await p.exited).code).toBe(0);
    expect(p.stdout()).toContain('Cloud Queues');
    expect(p.stdout()).toContain('/v1/{project_id}');
  });
});
