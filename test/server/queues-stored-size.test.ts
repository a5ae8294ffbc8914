import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLAIM_BYTES } from '../../src/queues/claims.js';
import { useEtcd } from '../helpers/etcd.js';
import { defaultHeaders, queuesClient, startQueuesServer, type QueuesClient, type QueuesTestServer } from './queues-helpers.js';

/**
 * What a message costs stored, not only on the wire: a body whose numbers
 * grow when serialized again (`1e20` is stored as 21 digits) is held to the
 * limits by its stored size, and a claim of large messages stays within
 * etcd's request size (a claim rewrites every message it takes in one txn).
 */

/** `prefix` + as many `item`s as fit in `max` bytes + `suffix`. */
function padded(prefix: string, suffix: string, max: number, item = '1e20'): string {
  const n = Math.floor((max - prefix.length - suffix.length + 1) / (item.length + 1));
  return `${prefix}${Array.from({ length: n }, () => item).join(',')}${suffix}`;
}

describe('stored size (SQLite)', () => {
  let srv: QueuesTestServer;
  let c: QueuesClient;
  beforeAll(async () => {
    srv = await startQueuesServer();
    c = queuesClient(srv.port, defaultHeaders({ 'x-project-id': 'grow' }));
  });
  afterAll(() => srv.close());

  it('a post within the wire cap that would be stored four times larger is refused, as in-process, and stores nothing', async () => {
    await c.put('/v1/queues/g1');
    const text = padded('[{"ttl":60,"body":[', ']}]', 262_144);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(262_144);
    const r = await c.post('/v1/queues/g1/messages', text);
    expect(r.status).toBe(400);
    expect((await srv.store.range('q/d/pgrow/g1/m/')).entries).toHaveLength(0);
    // The same numbers written out take their stored size on the wire too: refused by the wire cap alike.
    const small = padded('[{"ttl":60,"body":[', ']}]', 20_000);
    expect((await c.post('/v1/queues/g1/messages', small)).status).toBe(201);
  });

  it('a number too large for a double (1e400) is refused, not stored as null', async () => {
    await c.put('/v1/queues/g3');
    for (const body of ['[{"ttl":60,"body":{"n":1e400}}]', '[{"ttl":60,"body":[1, -1E+400]}]', '[{"ttl":60,"body":{"n":1' + '0'.repeat(400) + '.5}}]']) {
      const r = await c.post('/v1/queues/g3/messages', body);
      expect(r.status, body.slice(0, 40)).toBe(400);
      expect(r.text).toContain('too large');
    }
    expect((await c.put('/v1/queues/g3/metadata', '{"n":1e400}')).status).toBe(400);
    expect((await srv.store.range('q/d/pgrow/g3/m/')).entries).toHaveLength(0);
    // Large but finite, and small exponents, are kept as numbers.
    expect((await c.post('/v1/queues/g3/messages', '[{"ttl":60,"body":{"n":1e300,"m":2.5e-3}}]')).status).toBe(201);
    const list = JSON.parse((await c.get('/v1/queues/g3/messages?echo=true')).text) as { messages: Array<{ body: unknown }> };
    expect(list.messages.map((m) => m.body)).toEqual([{ n: 1e300, m: 2.5e-3 }]);
  });

  it('metadata that would be stored four times larger is refused', async () => {
    await c.put('/v1/queues/g2');
    const r = await c.put('/v1/queues/g2/metadata', padded('{"a":[', ']}', 65_536));
    expect(r.status).toBe(400);
    expect((await c.put('/v1/queues/g2/metadata', padded('{"a":[', ']}', 8_000))).status).toBe(204);
  });
});

describe('claims of large messages on etcd (default --max-request-bytes 1.5 MiB)', () => {
  const etcd = useEtcd();
  let srv: QueuesTestServer;
  let c: QueuesClient;
  beforeAll(async () => {
    srv = await startQueuesServer({ etcdEndpoints: etcd().endpoints });
    c = queuesClient(srv.port, defaultHeaders({ 'x-project-id': 'big' }));
  });
  afterAll(() => srv.close());

  it('20 messages of 256 KiB are claimed a few at a time, each claim within the budget, all of them once', async () => {
    const plain = JSON.stringify([{ ttl: 300, body: 'x'.repeat(262_144 - 40) }]);
    await c.put('/v1/queues/pg');
    for (let i = 0; i < 20; i++) expect((await c.post('/v1/queues/pg/messages', plain)).status).toBe(201);
    const seen = new Set<string>();
    for (let round = 0; round < 20 && seen.size < 20; round++) {
      const claim = await c.post('/v1/queues/pg/claims?limit=20', '{"ttl":60,"grace":60}');
      expect(claim.status).toBe(201);
      const taken = JSON.parse(claim.text) as Array<{ href: string; body: string }>;
      expect(taken.length).toBeGreaterThan(0);
      expect(taken.length * 262_000).toBeLessThanOrEqual(CLAIM_BYTES);
      for (const m of taken) {
        const id = m.href.split('?')[0] as string;
        expect(seen.has(id)).toBe(false);
        seen.add(id);
      }
    }
    expect(seen.size).toBe(20);
    expect((await c.post('/v1/queues/pg/claims?limit=20', '{"ttl":60,"grace":60}')).status).toBe(204);
  }, 120_000);
});
