import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HttpQueues } from '../../src/client/queues.js';
import { hasCode } from '../../src/lib/errors.js';
import { isQueueFault } from '../../src/queues/faults.js';
import { createAuthTable } from '../../src/server/index.js';
import { freshQueue, startQueuesServer, type QueuesServer } from './queues-server.js';

/**
 * What HttpQueues adds over the shared conformance suite (which runs through
 * it too): the headers it sends, the path form, faults from the wire, the
 * wait extension, abort and close.
 */
let srv: QueuesServer;

beforeAll(async () => {
  srv = await startQueuesServer();
});
afterAll(async () => {
  await srv.close();
});

const P = 'p-client';

async function caught(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('HttpQueues', () => {
  it('round-trips a queue: create/exists/metadata/post/list/get/stats/delete', async () => {
    const q = srv.client();
    const name = freshQueue();
    expect(await q.createQueue(P, name)).toBe(true);
    expect(await q.createQueue(P, name)).toBe(false);
    expect(await q.queueExists(P, name)).toBe(true);
    expect(await q.queueExists(P, `${name}-no`)).toBe(false);
    await q.setMetadata(P, name, { owner: 'ops', n: [1, 2], u: '汉字' });
    expect(await q.getMetadata(P, name)).toEqual({ owner: 'ops', n: [1, 2], u: '汉字' });
    const ids = await q.postMessages(P, name, q.clientId, [
      { ttl: 300, body: { event: 'one' } },
      { ttl: 60, body: [1, 3] },
    ]);
    expect(ids).toHaveLength(2);
    const one = await q.getMessage(P, name, ids[0] as string);
    expect(one).toMatchObject({ id: ids[0], body: { event: 'one' } });
    expect(one.ttl).toBeGreaterThanOrEqual(1);
    expect((await q.getMessages(P, name, [...ids, 'nope'])).map((m) => m.id).sort()).toEqual([...ids].sort());
    const stats = await q.getStats(P, name);
    expect(stats).toMatchObject({ total: 2, free: 2, claimed: 0 });
    expect(stats.oldest?.id).toBe(ids[0]);
    expect(stats.newest?.id).toBe(ids[1]);
    expect((await q.listQueues(P, { detailed: true })).queues).toContainEqual({ name, metadata: { owner: 'ops', n: [1, 2], u: '汉字' } });
    await q.deleteQueue(P, name);
    expect(await q.queueExists(P, name)).toBe(false);
    expect(isQueueFault(await caught(q.getStats(P, name)), 'notFound')).toBe(true);
  });

  it('hides its own messages from its listing unless echo, and pages with the next marker', async () => {
    const producer = srv.client();
    const observer = srv.client();
    expect(producer.clientId).not.toBe(observer.clientId);
    const name = freshQueue();
    await producer.createQueue(P, name);
    const ids = await producer.postMessages(P, name, producer.clientId, Array.from({ length: 5 }, (_, i) => ({ ttl: 300, body: i })));
    expect((await producer.listMessages(P, name, { clientId: producer.clientId })).messages).toEqual([]);
    expect((await producer.listMessages(P, name, { clientId: producer.clientId, echo: true })).messages).toHaveLength(5);
    const seen: string[] = [];
    let marker: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await observer.listMessages(P, name, { clientId: observer.clientId, limit: 2, marker });
      if (page.messages.length === 0) break;
      expect(page.marker).toBeDefined();
      seen.push(...page.messages.map((m) => m.id));
      marker = page.marker;
    }
    expect(seen).toEqual(ids);
  });

  it('reaches the same queue through X-Project-Id and the /v1/{project} path; null is the global namespace', async () => {
    const header = srv.client();
    const path = srv.client({ projectInPath: true });
    const name = freshQueue();
    await header.createQueue('JAM Project', name);
    expect(await path.queueExists('JAM Project', name)).toBe(true);
    expect(await path.queueExists('other', name)).toBe(false);
    expect(await header.queueExists(null, name)).toBe(false);
    await path.createQueue(null, name);
    expect(await header.queueExists(null, name)).toBe(true);
    // `queues` and `health` cannot be path segments: the header carries them; '' is emptyProject either way.
    await path.createQueue('queues', name);
    expect(await header.queueExists('queues', name)).toBe(true);
    expect(isQueueFault(await caught(path.createQueue('', name)), 'emptyProject')).toBe(true);
    // A project id no header can carry goes in the path, and is the same project either way.
    await header.createQueue('项目 1', name);
    expect(await path.queueExists('项目 1', name)).toBe(true);
    expect(await header.queueExists('项目 2', name)).toBe(false);
  });

  it('raises the domain faults from the wire', async () => {
    const q = srv.client();
    const name = freshQueue();
    await q.createQueue(P, name);
    expect(isQueueFault(await caught(q.createQueue(P, 'bad name!')), 'invalidQueue')).toBe(true);
    expect(isQueueFault(await caught(q.createQueue('', name)), 'emptyProject')).toBe(true);
    expect(isQueueFault(await caught(q.postMessages(P, name, undefined, [{ ttl: 60, body: 1 }])), 'missingHeader')).toBe(true);
    expect(isQueueFault(await caught(q.postMessages(P, name, 'not-a-uuid', [{ ttl: 60, body: 1 }])), 'invalidApiCall')).toBe(true);
    expect(isQueueFault(await caught(q.postMessages(P, name, q.clientId, [{ ttl: 59, body: 1 }])), 'invalidApiCall')).toBe(true);
    expect(isQueueFault(await caught(q.postMessages(P, name, q.clientId, { ttl: 60, body: 1 })), 'invalidBody')).toBe(true);
    expect(isQueueFault(await caught(q.setMetadata(P, name, ['x'])), 'invalidBody')).toBe(true);
    expect(isQueueFault(await caught(q.getMessages(P, name, [])), 'invalidApiCall')).toBe(true);
    expect(isQueueFault(await caught(q.getMessage(P, name, 'nope')), 'notFound')).toBe(true);
    expect(isQueueFault(await caught(q.claimMessages(P, name, { ttl: 30, grace: 60 })), 'invalidApiCall')).toBe(true);
    const [id] = await q.postMessages(P, name, q.clientId, [{ ttl: 300, body: 'x' }]);
    const claim = await q.claimMessages(P, name, { ttl: 120, grace: 60 }, { limit: 1 });
    expect(claim).toMatchObject({ ttl: 120, age: 0, messages: [{ id, claimId: claim?.id }] });
    const forbidden = await caught(q.deleteMessage(P, name, id as string));
    expect(isQueueFault(forbidden, 'forbidden')).toBe(true);
    expect((forbidden as { title: string }).title).toBe('Unable to delete');
    expect(await q.getClaim(P, name, claim?.id as string)).toMatchObject({ id: claim?.id, ttl: 120, messages: [{ id }] });
    await q.renewClaim(P, name, claim?.id as string, { ttl: 300 });
    expect((await q.getClaim(P, name, claim?.id as string)).ttl).toBe(300);
    await q.deleteMessage(P, name, id as string, claim?.id);
    expect(isQueueFault(await caught(q.getMessage(P, name, id as string)), 'notFound')).toBe(true);
    await q.releaseClaim(P, name, claim?.id as string);
    expect(isQueueFault(await caught(q.renewClaim(P, name, 'nope', { ttl: 60 })), 'notFound')).toBe(true);
    await q.health();
  });

  it('with waitMs, a claim returns as soon as a message is posted', async () => {
    const consumer = srv.client();
    const producer = srv.client();
    const name = freshQueue();
    await producer.createQueue(P, name);
    const pending = consumer.claimMessages(P, name, { ttl: 60, grace: 60 }, { waitMs: 20_000 });
    // The claim is held by the server (not answered empty) until the post.
    await vi.waitFor(async () => expect(await srv.waiting()).toBe(1), { timeout: 10_000 });
    const posted = Date.now();
    const [id] = await producer.postMessages(P, name, producer.clientId, [{ ttl: 300, body: 'late' }]);
    const claim = await pending;
    expect(claim?.messages.map((m) => m.id)).toEqual([id]);
    expect(Date.now() - posted).toBeLessThan(5000);
    expect(await srv.waiting()).toBe(0);
    // Without a message the wait ends empty, after about waitMs (sent as decimal seconds).
    const t0 = Date.now();
    expect(await consumer.claimMessages(P, name, { ttl: 60, grace: 60 }, { waitMs: 600 })).toBeNull();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(550);
    expect(Date.now() - t0).toBeLessThan(5000);
    const listed = await consumer.listMessages(P, name, { clientId: consumer.clientId, waitMs: 1000 });
    expect(listed.messages).toEqual([]);
  });

  it('rejects a waiting call with the signal reason on abort, and every call after close()', async () => {
    const q = srv.client();
    const name = freshQueue();
    await q.createQueue(P, name);
    const ac = new AbortController();
    const pending = q.claimMessages(P, name, { ttl: 60, grace: 60 }, { waitMs: 20_000 }, ac.signal);
    await vi.waitFor(async () => expect(await srv.waiting()).toBe(1), { timeout: 10_000 });
    const t0 = Date.now();
    ac.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
    expect(Date.now() - t0).toBeLessThan(5000);
    await q.close();
    expect(hasCode(await caught(q.createQueue(P, name)), 'client.closed')).toBe(true);
  });

  it('maps 401 to client.unauthorized and a dead port to client.unreachable, never echoing the token', async () => {
    const authed = await startQueuesServer({ auth: createAuthTable([{ token: 'good-token', tenant: 'p-auth' }]) });
    try {
      const bad = authed.client({ token: 'wrong-secret' });
      const err = await caught(bad.createQueue('p-auth', 'x'));
      expect(hasCode(err, 'client.unauthorized')).toBe(true);
      expect(String((err as Error).message)).not.toContain('wrong-secret');
      const good = authed.client({ token: 'good-token' });
      expect(await good.createQueue('p-auth', 'x')).toBe(true);
      expect(hasCode(await caught(good.createQueue('p-other', 'x')), 'client.unauthorized')).toBe(true);
    } finally {
      await authed.close();
    }
    const port = await freePort();
    const dead = new HttpQueues({ url: `http://127.0.0.1:${port}`, token: 'some-secret', clientId: randomUUID() });
    const err = await caught(dead.health());
    expect(hasCode(err, 'client.unreachable')).toBe(true);
    expect(String((err as Error).message)).not.toContain('some-secret');
    await dead.close();
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
