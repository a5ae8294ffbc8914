import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Client } from '../../src/client/client.js';
import { hasCode } from '../../src/lib/errors.js';
import { isQueueFault } from '../../src/queues/faults.js';
import { freshQueue, startQueuesServer, type QueuesServer } from './queues-server.js';

/** `client.queues`: the tenant's Cloud Queues through the Client facade, over HTTP and in-process. */
let srv: QueuesServer;

beforeAll(async () => {
  srv = await startQueuesServer();
});
afterAll(async () => {
  await srv.close();
});

describe('Client.queues', () => {
  it('works the tenant-as-project queues over the same server URL', async () => {
    const client = new Client({ url: `${srv.url}/v1.0/tq1` });
    const name = freshQueue();
    try {
      const q = client.queues;
      expect(q.project).toBe('tq1');
      expect(await q.create(name)).toBe(true);
      await q.setMetadata(name, { team: 'ops' });
      expect(await q.getMetadata(name)).toEqual({ team: 'ops' });
      const ids = await q.post(name, [
        { ttl: 300, body: 'a' },
        { ttl: 300, body: 'b' },
      ]);
      // Its own posts are hidden from its listing unless echo (Client-ID is the client's).
      expect((await q.list(name)).messages).toEqual([]);
      expect((await q.list(name, { echo: true })).messages.map((m) => m.id)).toEqual(ids);
      expect((await q.listAll()).map((i) => i.name)).toContain(name);
      // The same queue through HttpQueues with the project given explicitly.
      expect((await srv.client().getStats('tq1', name)).total).toBe(2);

      const handled: unknown[] = [];
      const stop = new AbortController();
      const run = q.consume(name, (m) => void handled.push(m.body), { signal: stop.signal, waitMs: 2000 });
      await vi.waitFor(async () => expect((await q.stats(name)).total).toBe(0), { timeout: 10_000 });
      stop.abort();
      expect(await run).toEqual({ handled: 2, failed: 0 });
      expect(handled).toEqual(['a', 'b']);
      expect(isQueueFault(await q.get(name, ids[0] as string).catch((e: unknown) => e), 'notFound')).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('uses a Queues passed in (and leaves it open), and says so when there is none', async () => {
    const name = freshQueue();
    const client = new Client({ registry: srv.registry, tenant: 'tq2', queues: srv.service });
    await client.queues.create(name);
    const [id] = await client.queues.post(name, [{ ttl: 300, body: 1 }]);
    const claim = await client.queues.claim(name, { ttl: 60, grace: 60 });
    expect(claim?.messages.map((m) => m.id)).toEqual([id]);
    await client.queues.deleteMessage(name, id as string, claim?.id);
    // consume() over the in-process QueueService: the same loop, no HTTP.
    await client.queues.post(name, [{ ttl: 300, body: 'in-process' }]);
    const seen: unknown[] = [];
    const stop = new AbortController();
    const run = client.queues.consume(name, (m) => void seen.push(m.body), { signal: stop.signal, waitMs: 2000 });
    await vi.waitFor(async () => expect((await client.queues.stats(name)).total).toBe(0), { timeout: 10_000 });
    stop.abort();
    expect(await run).toEqual({ handled: 1, failed: 0 });
    expect(seen).toEqual(['in-process']);
    await client.close();
    expect(await srv.service.queueExists('tq2', name)).toBe(true);

    const bare = new Client({ registry: srv.registry, tenant: 'tq3' });
    let err: unknown;
    try {
      void bare.queues;
    } catch (e) {
      err = e;
    }
    expect(hasCode(err, 'client.noQueues')).toBe(true);
  });
});
