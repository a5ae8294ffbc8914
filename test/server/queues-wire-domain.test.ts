import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueFault } from '../../src/queues/faults.js';
import { defaultHeaders, queuesClient, startQueuesServer, type QueuesTestServer } from './queues-helpers.js';

/**
 * Review 15 S5: the wire checks the project, the queue name and the
 * Client-ID with the domain's validators, so an HTTP caller and an in-process
 * caller get the same fault, title and description alike.
 */

let srv: QueuesTestServer;
beforeAll(async () => {
  srv = await startQueuesServer();
});
afterAll(() => srv.close());

async function domainFault(call: () => Promise<unknown>): Promise<{ title: string; description: string }> {
  const err = (await call().then(
    () => null,
    (e: unknown) => e,
  )) as QueueFault | null;
  expect(err).not.toBeNull();
  return { title: err?.title as string, description: err?.description as string };
}

describe('queues: the wire and the domain give the same faults', () => {
  it('an empty project id', async () => {
    const wire = await queuesClient(srv.port, defaultHeaders({ 'x-project-id': '' })).put('/v1/queues/q');
    expect(wire.status).toBe(400);
    expect(wire.json).toEqual(await domainFault(() => srv.queues.createQueue('', 'q')));
  });

  it('a queue name too long, and one with a bad character', async () => {
    const c = queuesClient(srv.port);
    for (const name of ['x'.repeat(65), 'bad.name']) {
      const wire = await c.put(`/v1/queues/${name}`);
      expect(wire.status, name).toBe(400);
      expect(wire.json, name).toEqual(await domainFault(() => srv.queues.createQueue('123456', name)));
    }
  });

  it('a malformed and a missing Client-ID', async () => {
    const bad = queuesClient(srv.port, defaultHeaders({ 'client-id': 'not-a-uuid' }));
    await bad.put('/v1/queues/cid');
    const wire = await bad.get('/v1/queues/cid/messages');
    expect(wire.status).toBe(400);
    expect(wire.json).toEqual(await domainFault(() => srv.queues.listMessages('123456', 'cid', { clientId: 'not-a-uuid' })));
    const { 'client-id': _omit, ...noId } = defaultHeaders();
    const missing = await queuesClient(srv.port, noId).get('/v1/queues/cid/messages');
    expect(missing.status).toBe(400);
    expect(missing.json).toEqual(await domainFault(() => srv.queues.listMessages('123456', 'cid', { clientId: '' })));
  });
});
