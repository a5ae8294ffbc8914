import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useEtcd } from '../helpers/etcd.js';
import { defaultHeaders, messages, queuesClient, startQueuesServer, type QueuesClient, type QueuesTestServer } from './queues-helpers.js';

/**
 * Transport-level lines of spec section 10 about bodies: size caps (by length
 * and by bytes read), JSON parsing, connections. Run on both stores, SQLite
 * and etcd (a real etcd this file starts): the caps must hold whatever stores
 * the accepted bodies.
 */

const etcd = useEtcd();
let srv: QueuesTestServer;
let c: QueuesClient;

describe.each(['sqlite', 'etcd'] as const)('queues wire on %s', (store) => {
  beforeAll(async () => {
    srv = await startQueuesServer(store === 'etcd' ? { etcdEndpoints: etcd().endpoints } : {});
    c = queuesClient(srv.port);
  });
  afterAll(() => srv.close());
  sizes();
  jsonBodies();
  connections();
  clientsThatLeave();
});

const MAX = 262_144;

/** A post body of exactly `size` bytes: two messages, padded with spaces. */
function paddedPost(size: number): string {
  const text = JSON.stringify(messages(2));
  return text + ' '.repeat(size - Buffer.byteLength(text));
}

function sizes(): void {
  describe('queues wire: sizes', () => {
    it('F-M11 POST bodies of 262144-10, -1 and exactly 262144 bytes -> 201', async () => {
      await c.put('/v1/queues/fm11');
      for (const size of [MAX - 10, MAX - 1, MAX]) {
        expect((await c.post('/v1/queues/fm11/messages', paddedPost(size))).status, String(size)).toBe(201);
      }
    });

    it('F-M12 POST bodies of 262144+1 and +10 bytes -> 400 Invalid API call', async () => {
      for (const size of [MAX + 1, MAX + 10]) {
        const r = await c.post('/v1/queues/fm11/messages', paddedPost(size));
        expect(r.status, String(size)).toBe(400);
        expect(r.json.title).toBe('Invalid API call');
      }
    });

    it('3 a chunked body (no Content-Length) past the cap is refused by the bytes read, and the connection still answers', async () => {
      const r = await c.post('/v1/queues/fm11/messages', paddedPost(MAX + 1), { chunked: true });
      expect(r.status).toBe(400);
      expect(r.json.title).toBe('Invalid API call');
      const ok = await c.post('/v1/queues/fm11/messages', paddedPost(MAX), { chunked: true });
      expect(ok.status).toBe(201);
    });

    it('F-Q08 / F-Q09 / U-07 metadata of i*65000 -> 204 and round-trips; of i*65537 and ~100x max -> 400', async () => {
      await c.put('/v1/queues/fq09');
      const fits = { queue: 'i'.repeat(65_000) };
      expect((await c.put('/v1/queues/fq09/metadata', fits)).status).toBe(204);
      expect((await c.get('/v1/queues/fq09/metadata')).json).toEqual(fits);
      expect((await c.put('/v1/queues/fq09/metadata', { queue: 'i'.repeat(65_537) })).status).toBe(400);
      const huge = await c.put('/v1/queues/fq09/metadata', { queue: 'i'.repeat(6_553_600) });
      expect(huge.status).toBe(400);
      expect(huge.json.title).toBe('Invalid API call');
    });

    it('F-Q08 metadata keys and values round-trip exactly ({}, _queue, @queue, Unicode, punctuation)', async () => {
      await c.put('/v1/queues/fq08');
      for (const doc of [{}, { _queue: 'x' }, { '@queue': 'x' }, { 汉字: 'Unicode: 汉字' }, { queue: '#$%^&Apple' }]) {
        expect((await c.put('/v1/queues/fq08/metadata', doc)).status).toBe(204);
        expect((await c.get('/v1/queues/fq08/metadata')).json).toEqual(doc);
      }
    });
  });
}

function jsonBodies(): void {
  describe('queues wire: JSON bodies', () => {
    it('U-17 POST body absent, [, [], {}, . -> 400; {"overflow": 2^63} and {"underflow": -2^63-1} -> 400', async () => {
      await c.put('/v1/queues/u17');
      expect((await c.post('/v1/queues/u17/messages')).status).toBe(400);
      for (const body of ['[', '[]', '{}', '.']) expect((await c.post('/v1/queues/u17/messages', body)).status, body).toBe(400);
      for (const n of ['9223372036854775808', '-9223372036854775809', '100000000000000000000']) {
        const r = await c.post('/v1/queues/u17/messages', `[{"ttl": 300, "body": {"overflow": ${n}}}]`);
        expect(r.status, n).toBe(400);
        expect(r.json.title).toBe('Invalid request body');
      }
      const edge = await c.post('/v1/queues/u17/messages', '[{"ttl": 300, "body": {"a": 9223372036854775807, "b": -9223372036854775808, "c": "99999999999999999999"}}]');
      expect(edge.status).toBe(201);
    });

    it('2.5 ttl written 300.0 or 3e2 -> 400 Invalid request body; floats elsewhere in the body are fine', async () => {
      for (const ttl of ['300.0', '3e2', '3.0E2']) {
        const r = await c.post('/v1/queues/u17/messages', `[{"ttl": ${ttl}, "body": 1}]`);
        expect(r.status, ttl).toBe(400);
        expect(r.json.title).toBe('Invalid request body');
      }
      expect((await c.post('/v1/queues/u17/messages', '[{"ttl": 300, "body": {"ttl": 2.5, "x": 1e3}}]')).status).toBe(201);
    });

    it('2.5 a body that is not UTF-8 -> 400 Invalid request body', async () => {
      const r = await c.post('/v1/queues/u17/messages', Buffer.from([0x5b, 0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d, 0x5d]));
      expect(r.status).toBe(400);
      expect(r.json.title).toBe('Invalid request body');
    });

    it('U-06 metadata PUT with no body, {, [], ., two spaces -> 400 Invalid request body', async () => {
      await c.put('/v1/queues/u06');
      expect((await c.put('/v1/queues/u06/metadata')).status).toBe(400);
      for (const body of ['{', '[]', '.', '  ', '"not_a_dict"']) {
        const r = await c.put('/v1/queues/u06/metadata', body);
        expect(r.status, body).toBe(400);
        expect(r.json.title).toBe('Invalid request body');
      }
    });

    it('F-Q07 PUT queue with a body -> 201, the body is ignored (metadata stays {})', async () => {
      expect((await c.put('/v1/queues/fq07', { queue: 'Has Metadata' })).status).toBe(201);
      expect((await c.get('/v1/queues/fq07/metadata')).json).toEqual({});
    });
  });
}

function connections(): void {
  describe('queues wire: connections', () => {
    /** Sends on `agent` (keep-alive, one socket); resolves with the status and whether the socket was reused. */
    function onAgent(agent: Agent, method: string, path: string, body?: string, extra: Record<string, string> = {}) {
      return new Promise<{ status: number; reused: boolean; text: string }>((resolve, reject) => {
        const headers: Record<string, string> = { ...defaultHeaders(), ...extra };
        if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
        const req = request({ host: '127.0.0.1', port: srv.port, method, path, headers, agent }, (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, text }));
        });
        req.on('error', reject);
        if (extra.expect === '100-continue') req.on('continue', () => req.end(body));
        else req.end(body);
      });
    }

    it('a body refused for its size is read to its end: the keep-alive connection serves the next request', async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        await c.put('/v1/queues/keepalive');
        expect((await onAgent(agent, 'POST', '/v1/queues/keepalive/messages', paddedPost(MAX + 1000))).status).toBe(400);
        const next = await onAgent(agent, 'GET', '/v1/queues/keepalive/stats');
        expect(next.status).toBe(200);
        expect(next.reused).toBe(true);
      } finally {
        agent.destroy();
      }
    });

    it('Expect: 100-continue gets 100 then the answer when the head passes, the fault at once when it does not', async () => {
      const agent = new Agent({ keepAlive: false });
      await c.put('/v1/queues/continue');
      const ok = await onAgent(agent, 'POST', '/v1/queues/continue/messages', JSON.stringify(messages(1)), { expect: '100-continue' });
      expect(ok.status).toBe(201);
      const refused = await onAgent(agent, 'POST', '/v1/queues/continue/messages', JSON.stringify(messages(1)), {
        expect: '100-continue',
        'client-id': 'not-a-uuid',
      });
      expect(refused.status).toBe(400);
      expect(JSON.parse(refused.text).title).toBe('Invalid API call');
    });
  });
}

function clientsThatLeave(): void {
  describe('queues wire: clients that leave', () => {
    it('a client gone mid-body leaves nothing behind: the server answers others and closes without waiting for it', async () => {
      const own = await startQueuesServer();
      try {
        const oc = queuesClient(own.port);
        await oc.put('/v1/queues/leaver');
        const head = [
          'POST /v1/queues/leaver/messages HTTP/1.1',
          'Host: 127.0.0.1',
          `Client-ID: ${defaultHeaders()['client-id']}`,
          'Content-Type: application/json',
          'Content-Length: 100000',
          '',
          '[{"ttl": 60, "body": "',
        ].join('\r\n');
        await new Promise<void>((resolve, reject) => {
          const sock = connect(own.port, '127.0.0.1', () => sock.write(head, () => (sock.destroy(), resolve())));
          sock.on('error', reject);
        });
        expect((await oc.get('/v1/health')).status).toBe(204);
        expect((await oc.get('/v1/queues/leaver/stats')).json.messages.total).toBe(0);
        const started = Date.now();
        await own.server.close();
        // Well under the server's 3 s drain bound: the abandoned exchange was counted out.
        expect(Date.now() - started).toBeLessThan(1500);
      } finally {
        await own.close();
      }
    });
  });
}
