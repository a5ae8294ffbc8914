import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthTable } from '../../src/server/index.js';
import { matchQueueRoute } from '../../src/server/queues/router.js';
import { defaultHeaders, queuesClient, queueWith, startQueuesServer, type QueuesTestServer } from './queues-helpers.js';

/**
 * Thousands of random and malformed requests over every queues route
 * (methods, paths, headers, query strings, bodies; chunked or not): the
 * server never answers 5xx, never drops a connection without an answer, and
 * still serves normal traffic afterwards.
 */

let srv: QueuesTestServer;
const agent = new Agent({ keepAlive: true, maxSockets: 4 });

beforeAll(async () => {
  srv = await startQueuesServer();
  const c = queuesClient(srv.port);
  await queueWith(c, 'fz1', 20);
  await queueWith(c, 'fz2', 5);
  await c.post('/v1/queues/fz1/claims?limit=5', { ttl: 300, grace: 60 });
});
afterAll(async () => {
  agent.destroy();
  await srv.close();
});

interface Req {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
  chunked: boolean;
}

function send(r: Req, port = srv.port): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers = { ...r.headers };
    if (r.body !== undefined && !r.chunked) headers['content-length'] = String(Buffer.byteLength(r.body));
    const req = request({ host: '127.0.0.1', port, method: r.method, path: r.path, headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

// ---- arbitraries ----

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const anyText = fc.string({ unit: 'binary', maxLength: 30 });
const segment = fc.oneof(
  fc.constantFrom('fz1', 'fz2', 'nothere', 'queues', 'health', 'messages', 'claims', '', 'a'.repeat(65), '%zz', '%E9', '..', encodeURIComponent('汉字')),
  anyText.map(encodeURIComponent),
  fc.stringMatching(/^[a-zA-Z0-9_-]{1,70}$/),
);
const path = fc.oneof(
  fc.constantFrom('/v1', '/v1/', '/v1/health', '/v1/queues', '/v1/queues/'),
  fc.tuple(fc.option(segment), segment, fc.constantFrom('', '/metadata', '/stats', '/messages', '/claims', '/x')).map(
    ([project, q, sub]) => `/v1${project === null ? '' : `/${project}`}/queues/${q}${sub}`,
  ),
  fc.tuple(segment, fc.constantFrom('messages', 'claims'), segment).map(([q, sub, id]) => `/v1/queues/${q}/${sub}/${id}`),
  fc.array(segment, { maxLength: 6 }).map((segs) => `/v1/${segs.join('/')}`),
);
const queryValue = fc.oneof(
  fc.constantFrom('', 'true', 'True', 'yes', 'no', 'false', '0', '1', '20', '21', '-1', '10000000000000000000', '1.5', '0.01', 'x', '%', '%zz', ','),
  fc.integer().map(String),
  printable.map(encodeURIComponent),
);
const query = fc
  .array(fc.tuple(fc.constantFrom('limit', 'marker', 'detailed', 'echo', 'include_claimed', 'ids', 'claim_id', 'wait', 'other', '%'), queryValue), {
    maxLength: 5,
  })
  // Long-polls are bounded here: `wait` values above 0.05 s become 0 (a waiting request is a test of its own).
  .map((pairs) => pairs.map(([k, v]) => (k === 'wait' && Number(v) > 0.05 ? [k, '0'] : [k, v])).map(([k, v]) => `${k}=${v}`).join('&'));
const bigInt = fc.constantFrom('9223372036854775808', '-9223372036854775809', '100000000000000000000', '9223372036854775807');
const ttlText = fc.oneof(fc.integer({ min: -100, max: 2_000_000 }).map(String), fc.constantFrom('300.0', '3e2', 'null', '"300"', 'true'), bigInt);
const jsonBody = fc.oneof(
  fc.json({ maxDepth: 3 }),
  fc.array(fc.tuple(ttlText, fc.json({ maxDepth: 2 })), { maxLength: 4 }).map((ms) => `[${ms.map(([t, b]) => `{"ttl": ${t}, "body": ${b}}`).join(',')}]`),
  fc.tuple(ttlText, ttlText).map(([ttl, grace]) => `{"ttl": ${ttl}, "grace": ${grace}}`),
  fc.constantFrom('', '[', '{', '.', '  ', '[1]', '[null]', '"x"', 'null', '{"a": 1e999}', '[{"ttl": 60}]', '\uFEFF[]'),
  anyText,
  // Deep nesting (review 15 M1): JSON.stringify recurses and throws RangeError a few thousand levels down.
  fc.tuple(fc.constantFrom(255, 257, 4112, 6000), fc.constantFrom('[', '{"a":')).map(([depth, open]) => {
    const close = open === '[' ? ']' : '}';
    const doc = `${open.repeat(depth)}0${close.repeat(depth)}`;
    return depth % 2 === 0 ? `[{"ttl": 60, "body": ${doc}}]` : doc;
  }),
);
const headers = fc.record(
  {
    accept: fc.constantFrom('application/json', '*/*', 'application/xml', 'text/plain;q=0', 'application/json;q=0', '', 'application/*;q=0.5, */*;q=0'),
    'x-project-id': fc.oneof(fc.constantFrom('', '123456', 'p'.repeat(257), 'JAM Project'), printable),
    'client-id': fc.oneof(fc.constant(randomUUID()), fc.constantFrom('', '1234', '{' + randomUUID() + '}', 'urn:uuid:' + randomUUID()), printable),
    'content-type': fc.constantFrom('application/json', 'text/plain', ''),
    'x-auth-token': printable,
  },
  { requiredKeys: [] },
);
const requestArb = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND'),
  path: fc.tuple(path, query).map(([p, q]) => (q === '' ? p : `${p}?${q}`)),
  headers,
  body: fc.option(jsonBody, { nil: undefined }),
  chunked: fc.boolean(),
});

describe('queues fuzz', () => {
  it('5000 random and malformed requests over every route: never a 5xx, always an answer', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(requestArb, async (r) => {
        const { status, text } = await send(r);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        expect(status, `${r.method} ${r.path} -> ${status} ${text.slice(0, 200)}`).toBeGreaterThanOrEqual(200);
        expect(status, `${r.method} ${r.path} -> ${status} ${text.slice(0, 200)}`).toBeLessThan(500);
      }),
      { numRuns: 5000 },
    );
    // The inputs reach the handlers, not only the early checks: successes and faults of several kinds.
    for (const s of [200, 201, 204, 400, 404, 405, 406]) expect(statuses.get(s) ?? 0, `status ${s}`).toBeGreaterThan(0);
  }, 240_000);

  it('the server still serves normal traffic afterwards', async () => {
    const c = queuesClient(srv.port, defaultHeaders());
    expect((await c.get('/v1/health')).status).toBe(204);
    await c.put('/v1/queues/after-fuzz');
    expect((await c.post('/v1/queues/after-fuzz/messages', [{ ttl: 60, body: 'ok' }])).status).toBe(201);
    const claim = await c.post('/v1/queues/after-fuzz/claims', { ttl: 60, grace: 60 });
    expect(claim.status).toBe(201);
    expect(claim.json[0].body).toBe('ok');
  });

  it('with auth on: 2000 random requests, never a 5xx, and nothing but home, health and OPTIONS succeeds without a token of the project', async () => {
    const authed = await startQueuesServer({
      auth: createAuthTable([
        { token: 'tok-a', tenant: 'proj-a' },
        { token: 'tok-admin', tenant: '*' },
      ]),
    });
    try {
      const token = fc.constantFrom<string | undefined>(undefined, '', 'tok-a', 'tok-admin', 'tok-b', 'TOK-A');
      const project = fc.constantFrom<string | undefined>(undefined, '', 'proj-a', 'proj-b', '*');
      const authedReq = fc.tuple(requestArb, token, project).map(([r, t, p]) => {
        const headers = { ...r.headers };
        delete headers['x-auth-token'];
        delete headers['x-project-id'];
        if (t !== undefined) headers['x-auth-token'] = t;
        if (p !== undefined) headers['x-project-id'] = p;
        return { ...r, headers };
      });
      let grantedSuccesses = 0;
      await fc.assert(
        fc.asyncProperty(authedReq, async (r) => {
          const { status } = await send(r, authed.port);
          expect(status, `${r.method} ${r.path}`).toBeLessThan(500);
          if (status >= 300) return;
          const route = matchQueueRoute(r.method, r.path.split('?')[0] as string);
          const open = route === null || route.name === 'home' || route.name === 'health' || r.method === 'OPTIONS';
          const project = route?.pathProject ?? r.headers['x-project-id'];
          const granted = r.headers['x-auth-token'] === 'tok-admin' || (r.headers['x-auth-token'] === 'tok-a' && project === 'proj-a');
          expect(open || granted, `${r.method} ${r.path} ${JSON.stringify(r.headers)} -> ${status}`).toBe(true);
          if (!open) grantedSuccesses++;
        }),
        { numRuns: 2000 },
      );
      // Tokens of the right project do get through: the property is not vacuous.
      expect(grantedSuccesses).toBeGreaterThan(0);
    } finally {
      await authed.close();
    }
  }, 240_000);
});
