import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, raw, rawSocket, serviceBody, startServer, type TestServer } from './helpers.js';

/** Transport rules of spec 1.3/1.4 and the misc checks M1-M4 of spec 14. */

const JSON_CT = { 'content-type': 'application/json' };
const TXN_RE = /^\.rh-[a-z]{4}\.h-testhost\.r-[A-Za-z0-9]{8}\.c-\d+\.ts-\d+\.v-0\.1$/;

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s.close();
});

describe('spec 14 misc (M1-M4)', () => {
  it('M1: an unknown URL is a 404 notFoundError with requested_path', async () => {
    const r = await raw(s.port, 'GET', '/v1.0/7777/random-url?x=1', { headers: JSON_CT });
    expect(r.status).toBe(404);
    expect(r.json).toEqual({
      type: 'notFoundError',
      code: 404,
      message: 'The page cannot be found.',
      details: { requested_path: '/v1.0/7777/random-url?x=1' },
      txnId: r.headers['x-response-id'],
    });
  });

  it('M2: POST /services with Content-Type foo/bar is 400 Unsupported content type', async () => {
    const r = await raw(s.port, 'POST', '/v1.0/7777/services', { headers: { 'content-type': 'foo/bar' }, body: JSON.stringify(serviceBody('m2-service')) });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ type: 'badRequest', code: 400, message: 'Unsupported content type: foo/bar', details: 'Unsupported content type: foo/bar' });
    expect((await api(s.port, '7777').get('/services/m2-service')).status).toBe(404);
  });

  it('M3: an unparsable body is 400 Failed to parse request body', async () => {
    const r = await raw(s.port, 'POST', '/v1.0/7777/services', { headers: JSON_CT, body: '{"a": }' });
    expect(r.status).toBe(400);
    expect(r.json.type).toBe('badRequest');
    expect(r.json.message).toMatch(/^Failed to parse request body: /);
  });

  it('M4: a 5001-byte body without content type is a bare 413', async () => {
    const r = await raw(s.port, 'POST', '/v1.0/7777/services', { body: 'x'.repeat(5001) });
    expect(r.status).toBe(413);
    expect(r.text).toBe('');
    expect(r.headers.connection).toBe('close');
    expect(r.headers['x-response-id']).toMatch(TXN_RE);
  });
});

describe('body size (spec 1.3)', () => {
  const padded = (size: number) => {
    const base = JSON.stringify(serviceBody(`size-${size}`, { pad: '' }));
    return base.replace('"pad":""', `"pad":"${'p'.repeat(size - base.length)}"`);
  };

  it('accepts 4999 bytes and rejects exactly 5000 by Content-Length', async () => {
    const ok = padded(4999);
    expect(Buffer.byteLength(ok)).toBe(4999);
    const r1 = await raw(s.port, 'POST', '/v1.0/size/services', { headers: JSON_CT, body: ok });
    expect(r1.status).toBe(201);
    const r2 = await raw(s.port, 'POST', '/v1.0/size/services', { headers: JSON_CT, body: padded(5000) });
    expect(r2.status).toBe(413);
    expect(r2.text).toBe('');
    expect(r2.headers.connection).toBe('close');
    expect(r2.headers['x-response-id']).toBeDefined();
    expect((await api(s.port, 'size').get('/services/size-5000')).status).toBe(404);
  });

  it('counts streamed (chunked) bytes: 4999 accepted, 5000 rejected', async () => {
    const r1 = await raw(s.port, 'POST', '/v1.0/size2/services', { headers: JSON_CT, body: padded(4999), chunked: true });
    expect(r1.status).toBe(201);
    const r2 = await raw(s.port, 'POST', '/v1.0/size2/services', { headers: JSON_CT, body: padded(5000), chunked: true });
    expect(r2.status).toBe(413);
    expect(r2.text).toBe('');
  });

  it('answers 413 on a raw socket and closes it, body left unread', async () => {
    const head = 'POST /v1.0/7777/services HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n';
    const out = await rawSocket(s.port, head + 'y'.repeat(1000));
    expect(out).toMatch(/^HTTP\/1\.1 413 /);
    expect(out).toMatch(/\r\nconnection: close\r\n/i);
    expect(out).toMatch(/\r\nx-response-id: \.rh-/i);
    expect(out).toMatch(/\r\ncontent-length: 0\r\n/i);
    expect(out.endsWith('\r\n\r\n')).toBe(true); // empty body
  });

  it('answers Expect: 100-continue with 413 for a large body, 100 Continue for a small one', async () => {
    const big = await rawSocket(s.port, 'POST /v1.0/7777/services HTTP/1.1\r\nHost: x\r\nContent-Length: 6000\r\nExpect: 100-continue\r\n\r\n');
    expect(big).toMatch(/^HTTP\/1\.1 413 /);
    expect(big).not.toContain('100 Continue');
    const body = JSON.stringify(serviceBody('expect-small'));
    const head = `POST /v1.0/expect/services HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`;
    const small = await rawSocket(s.port, head + body);
    expect(small).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 /);
  });

  it('size-checks GET bodies too', async () => {
    const r = await raw(s.port, 'GET', '/v1.0/7777/services', { body: 'z'.repeat(6000) });
    expect(r.status).toBe(413);
    const small = await raw(s.port, 'GET', '/v1.0/7777/services', { headers: JSON_CT, body: 'not json at all' });
    expect(small.status).toBe(200); // read and ignored
  });
});

describe('content type (spec 1.3)', () => {
  it('accepts missing, parameters and any case', async () => {
    const variants: Array<Record<string, string>> = [{}, { 'content-type': 'application/json; charset=utf-8' }, { 'content-type': 'APPLICATION/JSON' }, { 'content-type': ' Application/Json ;x=y' }];
    for (const headers of variants) {
      const r = await raw(s.port, 'GET', '/v1.0/ct/services', { headers });
      expect(r.status, JSON.stringify(headers)).toBe(200);
    }
    const body = JSON.stringify(serviceBody('ct-no-header'));
    expect((await raw(s.port, 'POST', '/v1.0/ct/services', { body })).status).toBe(201);
  });

  it('rejects other types on GET and DELETE as well', async () => {
    const g = await raw(s.port, 'GET', '/v1.0/ct/services', { headers: { 'content-type': 'text/plain' } });
    expect(g.status).toBe(400);
    expect(g.json.message).toBe('Unsupported content type: text/plain');
    const d = await raw(s.port, 'DELETE', '/v1.0/ct/services/ct-no-header', { headers: { 'content-type': 'Text/HTML; charset=UTF-8' } });
    expect(d.status).toBe(400);
    expect(d.json.message).toBe('Unsupported content type: text/html');
    expect((await api(s.port, 'ct').get('/services/ct-no-header')).status).toBe(200);
  });
});

describe('bodies', () => {
  it('treats an empty body as {} and literal null as Empty Request Body', async () => {
    const empty = await raw(s.port, 'POST', '/v1.0/bodies/services', { headers: JSON_CT, body: '' });
    expect(empty.status).toBe(400);
    expect(empty.json).toMatchObject({ message: "Validation error for key 'id'", details: 'Missing required key (id)' });
    const nul = await raw(s.port, 'POST', '/v1.0/bodies/services', { headers: JSON_CT, body: 'null' });
    expect(nul.status).toBe(400);
    expect(nul.json).toMatchObject({ type: 'badRequest', message: 'Empty Request Body' });
  });
});

describe('URL decoding', () => {
  it('C2: a malformed escape is 400 URI malformed without details', async () => {
    const r = await raw(s.port, 'GET', '/v1.0/7777/configuration/inexistent-value%80', { headers: JSON_CT });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ type: 'badRequest', code: 400, message: 'URI malformed', txnId: r.headers['x-response-id'] });
    expect('details' in r.json).toBe(false);
  });
});

describe('X-Response-Id', () => {
  it('is on every kind of reply and equals txnId in faults', async () => {
    const c = api(s.port, 'xid');
    const replies = [
      await c.get('/limits'),
      await c.post('/services', serviceBody('xid-1')),
      await c.put('/services/xid-1', { heartbeat_timeout: 20 }),
      await c.get('/services/nope-nope'),
      await c.get('/nothing-here'),
      await c.del('/services/xid-1'),
      await raw(s.port, 'POST', '/v1.0/xid/services', { body: 'x'.repeat(6000) }),
      await raw(s.port, 'GET', '/v1.0/xid/%80', {}),
    ];
    expect(replies.map((r) => r.status)).toEqual([200, 201, 204, 404, 404, 204, 413, 400]);
    for (const r of replies) expect(r.headers['x-response-id']).toMatch(TXN_RE);
    for (const r of replies.filter((x) => x.status >= 400 && x.json)) expect(r.json.txnId).toBe(r.headers['x-response-id']);
    expect(new Set(replies.map((r) => r.headers['x-response-id'])).size).toBe(replies.length);
  });

  it('repeats X-RP-Request-Id when given', async () => {
    const r = await raw(s.port, 'GET', '/v1.0/xid/services/ab', { headers: { 'x-rp-request-id': '.rh-abcd.h-proxy.r-12345678.c-1.ts-1.v-0.1' } });
    expect(r.status).toBe(400);
    expect(r.headers['x-response-id']).toBe('.rh-abcd.h-proxy.r-12345678.c-1.ts-1.v-0.1');
    expect(r.json.txnId).toBe('.rh-abcd.h-proxy.r-12345678.c-1.ts-1.v-0.1');
  });

  it('sends JSON with charset and Content-Length, and no X-Response-Time', async () => {
    const r = await api(s.port, 'xid').get('/limits');
    expect(r.headers['content-type']).toBe('application/json; charset=UTF-8');
    expect(r.headers['content-length']).toBe(String(Buffer.byteLength(r.text)));
    expect(r.headers['x-response-time']).toBeUndefined();
    expect(r.json).toHaveProperty('resource');
    expect(r.json).toHaveProperty('rate'); // A1
  });
});

describe('unknown routes and methods', () => {
  it('answers 404 with requested_path, never 405', async () => {
    const cases: Array<[string, string]> = [
      ['DELETE', '/v1.0/7777/services'],
      ['PATCH', '/v1.0/7777/services/abc'],
      ['POST', '/v1.0/7777/limits'],
      ['GET', '/v1.0/7777/services/abc/heartbeat'],
      ['GET', '/'],
      ['GET', '/v1.0/7777//services'],
      ['POST', '/v1.0/7777/configuration'],
    ];
    for (const [method, path] of cases) {
      const r = await raw(s.port, method, path, { headers: JSON_CT });
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.json).toMatchObject({ type: 'notFoundError', code: 404, message: 'The page cannot be found.', details: { requested_path: path } });
    }
  });

  it('keeps x-auth-token out of requested_path', async () => {
    const r = await raw(s.port, 'GET', '/v1.0/7777/nope?a=1&x-auth-token=secret&b=2', { headers: JSON_CT });
    expect(r.json.details).toEqual({ requested_path: '/v1.0/7777/nope?a=1&b=2' });
    expect(r.text).not.toContain('secret');
  });
});
