import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { followMessages, type FollowBatch } from '../../src/client/queues-follow.js';
import { isQueueFault } from '../../src/queues/faults.js';
import { freshQueue, startQueuesServer, type QueuesServer } from './queues-server.js';

/** followMessages(): the pub-sub side, through HttpQueues against a real server. */
let srv: QueuesServer;

beforeAll(async () => {
  srv = await startQueuesServer();
});
afterAll(async () => {
  await srv.close();
});

const P = 'p-follow';

describe('followMessages', () => {
  it('yields every message in order, waits for new ones, and resumes after a marker', async () => {
    const producer = srv.client();
    const observer = srv.client();
    const name = freshQueue('f');
    await producer.createQueue(P, name);
    const first = await producer.postMessages(P, name, producer.clientId, [1, 2, 3].map((n) => ({ ttl: 300, body: n })));
    const stop = new AbortController();
    const batches: FollowBatch[] = [];
    const loop = (async () => {
      for await (const b of followMessages(observer, P, name, { signal: stop.signal, limit: 2, waitMs: 20_000 })) batches.push(b);
    })();
    await vi.waitFor(() => expect(batches.flatMap((b) => b.messages).length).toBe(3), { timeout: 10_000 });
    // Caught up: the next request waits in the server until the post.
    await vi.waitFor(async () => expect(await srv.waiting()).toBe(1), { timeout: 10_000 });
    const later = await producer.postMessages(P, name, producer.clientId, [4, 5].map((n) => ({ ttl: 300, body: n })));
    await vi.waitFor(() => expect(batches.flatMap((b) => b.messages).length).toBe(5), { timeout: 10_000 });
    stop.abort();
    await loop;
    expect(batches.flatMap((b) => b.messages.map((m) => m.id))).toEqual([...first, ...later]);
    expect(batches.flatMap((b) => b.messages.map((m) => m.body))).toEqual([1, 2, 3, 4, 5]);
    expect(batches.every((b) => b.messages.length <= 2)).toBe(true);
    // Nothing was consumed; a new follower from the marker of the batch that ended at 3 sees only what came after.
    expect((await producer.getStats(P, name)).total).toBe(5);
    const upTo3 = batches.find((b) => b.messages.at(-1)?.body === 3);
    const resume = new AbortController();
    const after: unknown[] = [];
    for await (const b of followMessages(observer, P, name, { signal: resume.signal, marker: upTo3?.marker, waitMs: 500 })) {
      after.push(...b.messages.map((m) => m.body));
      if (after.length >= 2) resume.abort();
    }
    expect(after).toEqual([4, 5]);
  });

  it('throws a fault retrying cannot fix', async () => {
    const iter = followMessages(srv.client(), P, 'bad name!', { signal: new AbortController().signal });
    const err = await iter.next().catch((e: unknown) => e);
    expect(isQueueFault(err, 'invalidQueue')).toBe(true);
  });
});
