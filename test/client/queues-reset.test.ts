import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpQueues } from '../../src/client/queues.js';

/**
 * Review 15 S1: a connection reset after the server read a request must not
 * make the client send it again when applying it twice is wrong (a post
 * delivered twice, a second claim). Reads are still resent once.
 */

interface Seen {
  method: string;
  path: string;
}

/** Answers GET /v1/health with 204 (keep-alive); resets the connection after reading anything else once `reset` says so. */
async function resettingServer(reset: (req: IncomingMessage, n: number) => boolean): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', path: req.url ?? '' });
      const n = seen.filter((s) => s.method === req.method && s.path === req.url).length;
      if (req.url !== '/v1/health' && reset(req, n)) {
        req.socket.resetAndDestroy();
        return;
      }
      if (req.url === '/v1/health') return void res.writeHead(204).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ messages: { claimed: 0, free: 0, total: 0 } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(reset: (req: IncomingMessage, n: number) => boolean): Promise<{ q: HttpQueues; seen: Seen[] }> {
  const { url, seen, server } = await resettingServer(reset);
  const q = new HttpQueues({ url, timeoutMs: 5_000 });
  cleanups.push(async () => {
    await q.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  // A first request leaves a kept-alive socket: the next request goes out on a reused one.
  await q.health();
  return { q, seen };
}

const count = (seen: Seen[], method: string) => seen.filter((s) => s.method === method).length;

describe('HttpQueues after a connection reset on a reused socket', () => {
  it('a POST of messages is sent once: the reset is an error, not a second post', async () => {
    const { q, seen } = await setup(() => true);
    await expect(q.postMessages('p', 'q', undefined, [{ ttl: 60, body: 1 }])).rejects.toMatchObject({ code: 'client.unreachable' });
    expect(count(seen, 'POST')).toBe(1);
  });

  it('a claim (POST) and a renewal (PATCH) are sent once', async () => {
    const { q, seen } = await setup(() => true);
    await expect(q.claimMessages('p', 'q', { ttl: 60, grace: 60 })).rejects.toMatchObject({ code: 'client.unreachable' });
    await q.health();
    await expect(q.renewClaim('p', 'q', 'c1', { ttl: 60 })).rejects.toMatchObject({ code: 'client.unreachable' });
    expect(count(seen, 'POST')).toBe(1);
    expect(count(seen, 'PATCH')).toBe(1);
  });

  it('a read (GET stats) is resent once and succeeds', async () => {
    const { q, seen } = await setup((req, n) => req.method === 'GET' && n === 1);
    expect(await q.getStats('p', 'q')).toMatchObject({ total: 0 });
    expect(count(seen, 'GET')).toBe(3); // health, the reset stats, the resent stats
  });
});
