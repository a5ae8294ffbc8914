import { afterAll, describe, expect, it } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { HttpQueues } from '../../src/client/queues.js';
import { startEtcdRegistry, uniquePrefix, useEtcd } from '../helpers/etcd.js';
import type { RegistryProc } from '../helpers/procs.js';
import { feedAfter, waitForMessages } from './support.js';

/**
 * Two `tether registry` processes over one etcd run the same route: each
 * event is delivered once (the cursor compare in the delivery txn), in feed
 * order, also when one of them is SIGKILLed in the middle of a burst.
 */
const etcd = useEtcd();
const procs: RegistryProc[] = [];
const clients: Array<{ close(): Promise<void> }> = [];
afterAll(async () => {
  for (const c of clients) await c.close();
  await Promise.all(procs.map((p) => p.stop()));
});

describe('event routes: two servers over one etcd', () => {
  it('deliver each event once, in feed order, and the survivor finishes after a SIGKILL', async () => {
    const prefix = uniquePrefix();
    const [a, b] = await Promise.all([startEtcdRegistry(etcd().endpoints, prefix), startEtcdRegistry(etcd().endpoints, prefix)]);
    procs.push(a, b);
    const ra = new HttpRegistry({ url: a.url });
    const rb = new HttpRegistry({ url: b.url });
    const qb = new HttpQueues({ url: b.url });
    clients.push(ra, rb, qb);
    const t = 'fleet';
    const put = await fetch(`${a.url}/v1.0/${t}/event-routes/all`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ queue: 'events' }),
    });
    expect(put.status).toBe(201);
    const start = ((await put.json()) as { last_event: string | null }).last_event;

    let stopA = false;
    let stopB = false;
    const writer = async (r: HttpRegistry, lane: string, stopped: () => boolean, onError: () => void): Promise<void> => {
      for (let i = 0; !stopped(); i++) await r.setConfig(t, `key-${lane}-${i}`, { value: 'v' }).catch(onError);
    };
    const writers = [
      writer(ra, 'a0', () => stopA, () => (stopA = true)),
      writer(ra, 'a1', () => stopA, () => (stopA = true)),
      writer(rb, 'b0', () => stopB, () => (stopB = true)),
      writer(rb, 'b1', () => stopB, () => (stopB = true)),
    ];
    await waitForMessages(qb, t, 'events', 40);
    await a.stop('SIGKILL');
    stopA = true;
    // B keeps writing a little after A is gone: B alone delivers those.
    const more = await waitForMessages(qb, t, 'events', 60);
    stopB = true;
    await Promise.all(writers);

    const feed = (await feedAfter(rb, t, start)).map((e) => e.id);
    expect(feed.length).toBeGreaterThanOrEqual(more.length);
    const got = await waitForMessages(qb, t, 'events', feed.length);
    expect(got.map((e) => e.id)).toEqual(feed);
    await expect
      .poll(async () => ((await (await fetch(`${b.url}/v1.0/${t}/event-routes/all`)).json()) as { delivered: number }).delivered)
      .toBe(feed.length);
  }, 120_000);
});
