import { randomUUID } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isQueueFault } from '../../src/queues/faults.js';
import { freshQueue, startQueuesServer, type QueuesServer } from './queues-server.js';

/**
 * Which Client-ID HttpQueues sends, as its `clientId` option documents (U15 S3):
 * the instance's id on calls without a client id parameter; on post and list
 * the id passed, and none for `undefined` (the Queues interface's "absent",
 * refused as QueueService refuses it). A pass-through proxy in front of the
 * real server records each request's header.
 */
let srv: QueuesServer;
let proxy: Server;
let proxyUrl: string;
const seen: Array<{ method: string; path: string; clientId: string | undefined }> = [];

beforeAll(async () => {
  srv = await startQueuesServer();
  const target = new URL(srv.url);
  proxy = createServer((req, res) => {
    const cid = req.headers['client-id'];
    seen.push({ method: req.method ?? '', path: (req.url ?? '').split('?')[0] as string, clientId: typeof cid === 'string' ? cid : undefined });
    const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => proxy.close(resolve));
  await srv.close();
});

describe('HttpQueues Client-ID', () => {
  it('sends the instance id on calls without one of their own, the given id on post and list, none for undefined', async () => {
    const own = randomUUID();
    const given = randomUUID();
    const q = srv.client({ url: proxyUrl, clientId: own });
    const name = freshQueue();
    await q.createQueue('p-cid', name);
    const [id] = await q.postMessages('p-cid', name, given, [{ ttl: 60, body: 1 }]);
    await q.listMessages('p-cid', name, { clientId: given, echo: true });
    const claim = await q.claimMessages('p-cid', name, { ttl: 60, grace: 60 });
    await q.deleteMessage('p-cid', name, id as string, claim?.id);
    const absent = await q.postMessages('p-cid', name, undefined, [{ ttl: 60, body: 2 }]).catch((err: unknown) => err);
    expect(isQueueFault(absent, 'missingHeader')).toBe(true);
    expect(seen.map((r) => `${r.method} ${r.path.replace(/\/(messages|claims)\/[^/]+$/, '/$1/ID')} ${r.clientId === own ? 'own' : r.clientId === given ? 'given' : String(r.clientId)}`)).toEqual([
      `PUT /v1/queues/${name} own`,
      `POST /v1/queues/${name}/messages given`,
      `GET /v1/queues/${name}/messages given`,
      `POST /v1/queues/${name}/claims own`,
      `DELETE /v1/queues/${name}/messages/ID own`,
      `POST /v1/queues/${name}/messages undefined`,
    ]);
  });
});
