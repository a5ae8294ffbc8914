import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageKey, newMessageIds, queueKeys } from '../../src/queues/keys.js';
import { encodeMessage } from '../../src/queues/records.js';
import { MAX_JSON_DEPTH } from '../../src/queues/validation.js';
import { defaultHeaders, queuesClient, startQueuesServer, type QueuesClient, type QueuesTestServer } from './queues-helpers.js';

/** Deeply nested JSON (review 15, M1): refused at parse with 400, never a 500, and whatever is accepted can be listed. */

let srv: QueuesTestServer;
let c: QueuesClient;
beforeAll(async () => {
  srv = await startQueuesServer();
  c = queuesClient(srv.port, defaultHeaders({ 'x-project-id': 'depth' }));
});
afterAll(() => srv.close());

/** JSON text of `depth` nested arrays around 0. */
function nested(depth: number): string {
  return `${'['.repeat(depth)}0${']'.repeat(depth)}`;
}

describe('queues: JSON nesting depth', () => {
  it('a post whose body nests 6000 or 4112 levels -> 400 Invalid request body', async () => {
    await c.put('/v1/queues/deep');
    for (const depth of [6000, 4112, MAX_JSON_DEPTH]) {
      const r = await c.post('/v1/queues/deep/messages', `[{"ttl":60,"body":${nested(depth)}}]`);
      expect(r.status, String(depth)).toBe(400);
      expect(r.json.title).toBe('Invalid request body');
    }
    const stats = await c.get('/v1/queues/deep/stats');
    expect(stats.json.messages.total).toBe(0);
  });

  it('metadata nesting 6000 levels -> 400 Invalid request body', async () => {
    const r = await c.put('/v1/queues/deep/metadata', `{"a":${nested(6000)}}`);
    expect(r.status).toBe(400);
    expect(r.json.title).toBe('Invalid request body');
  });

  it('a posted message is always listable: the deepest body accepted comes back whole', async () => {
    await c.put('/v1/queues/deepok');
    // The array and the message object are two levels of the document.
    const body = nested(MAX_JSON_DEPTH - 2);
    const post = await c.post('/v1/queues/deepok/messages', `[{"ttl":60,"body":${body}}]`);
    expect(post.status).toBe(201);
    const list = await c.get('/v1/queues/deepok/messages?echo=true');
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.json.messages[0].body)).toBe(body);
  });

  it('in-process callers get invalidBody for a deep value, not a RangeError', async () => {
    let doc: unknown = 0;
    for (let i = 0; i < 10_000; i++) doc = [doc];
    await expect(srv.queues.postMessages('depth', 'deep', defaultHeaders()['client-id'] as string, [{ ttl: 60, body: doc }])).rejects.toMatchObject({
      code: 'queues.invalidBody',
    });
    await expect(srv.queues.setMetadata('depth', 'deep', { a: doc })).rejects.toMatchObject({ code: 'queues.invalidBody' });
  });

  it('a stored message too deep to serialize (written before the cap) answers 400, not 500', async () => {
    await c.put('/v1/queues/planted');
    const keys = queueKeys('depth', 'planted');
    const counter = await srv.store.get(keys.counter);
    expect(counter).toBeDefined();
    const marker = Number(counter?.value) + 1;
    const id = newMessageIds(marker, 1)[0] as string;
    const now = Date.now();
    const value = encodeMessage({ i: id, c: '00000000-0000-0000-0000-000000000000', t: now, e: now + 60_000 }, nested(200_000));
    const r = await srv.store.txn([], [
      { type: 'put', key: messageKey(keys, marker), value },
      { type: 'put', key: keys.counter, value: String(marker) },
    ]);
    expect(r.succeeded).toBe(true);
    const list = await c.get('/v1/queues/planted/messages?echo=true');
    expect(list.status).toBe(400);
    expect(list.json.title).toBe('Invalid API call');
    // The server still answers on the queue.
    expect((await c.get('/v1/queues/planted/stats')).status).toBe(200);
  });
});
