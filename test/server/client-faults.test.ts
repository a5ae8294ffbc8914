import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawSocket } from './helpers.js';
import { startQueuesServer, type QueuesTestServer } from './queues-helpers.js';

/**
 * Issue 19 item 5: requests Node's HTTP parser refuses get the spec's fault
 * body and X-Response-Id like every other reply (raw sockets: no client
 * library would send these), and the tenant ids `.` and `..` are refused.
 */

let srv: QueuesTestServer;
beforeAll(async () => {
  srv = await startQueuesServer();
});
afterAll(async () => {
  await srv.close();
});

interface Parsed {
  status: number;
  headers: Map<string, string>;
  body: string;
}

function parse(text: string): Parsed {
  const split = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
  const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body: text.slice(split + 4) };
}

/** The reply is a complete fault: status, JSON body with code = status, txnId = X-Response-Id, Connection: close. */
function expectFault(text: string, status: number): Record<string, unknown> {
  const r = parse(text);
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toBe('application/json; charset=UTF-8');
  expect(r.headers.get('connection')).toBe('close');
  const id = r.headers.get('x-response-id');
  expect(id).toMatch(/^\.rh-[a-z]{4}\.h-testhost\./);
  expect(Number(r.headers.get('content-length'))).toBe(Buffer.byteLength(r.body));
  const body = JSON.parse(r.body) as Record<string, unknown>;
  expect(body).toMatchObject({ type: 'badRequest', code: status, txnId: id });
  expect(Object.keys(body)).toEqual(['type', 'code', 'message', 'details', 'txnId']);
  return body;
}

describe('requests the HTTP parser refuses', () => {
  it('a header name with a bad character: 400 fault', async () => {
    const body = expectFault(await rawSocket(srv.port, 'GET /v1.0/t1/services HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n'), 400);
    expect(body.details).toBe('A request header is malformed.');
  });

  it('a control character in a header value: 400 fault', async () => {
    expectFault(await rawSocket(srv.port, 'GET /v1.0/t1/services HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n'), 400);
  });

  it('an unknown method: 400 fault', async () => {
    const body = expectFault(await rawSocket(srv.port, 'FROB /v1.0/t1/services HTTP/1.1\r\nHost: x\r\n\r\n'), 400);
    expect(body.details).toBe('The request method is not valid HTTP.');
  });

  it('a head larger than the limit: 431 fault', async () => {
    const big = 'a'.repeat(20_000);
    const body = expectFault(await rawSocket(srv.port, `GET /v1.0/t1/services HTTP/1.1\r\nHost: x\r\nX-Big: ${big}\r\n\r\n`), 431);
    expect(body.message).toBe('Request header fields too large');
  });

  it('garbage instead of a request line: 400 fault', async () => {
    expectFault(await rawSocket(srv.port, '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'), 400);
  });

  it('an HTTP/1.1 request without Host: 400 fault (registry and queues paths alike)', async () => {
    const a = expectFault(await rawSocket(srv.port, 'GET /v1.0/t1/services HTTP/1.1\r\n\r\n'), 400);
    expect(a.details).toBe('An HTTP/1.1 request must carry a Host header.');
    expectFault(await rawSocket(srv.port, 'GET /v1/queues HTTP/1.1\r\nX-Project-Id: p1\r\n\r\n'), 400);
  });

  it('HTTP/1.0 without Host is still served (Host is not required there)', async () => {
    const r = parse(await rawSocket(srv.port, 'GET /v1.0/t1/limits HTTP/1.0\r\n\r\n'));
    expect(r.status).toBe(200);
  });

  it('a good request on the same kind of socket is answered normally (the listener only handles errors)', async () => {
    const r = parse(await rawSocket(srv.port, 'GET /v1.0/t1/services HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    expect(r.status).toBe(200);
    expect(r.headers.get('x-response-id')).toBeDefined();
  });
});

describe('bytes after a request still being answered', () => {
  it('a body sent without Content-Length or Transfer-Encoding: one reply, saying Connection: close, then the socket closes', async () => {
    // GET and DELETE bodies without framing are what Node's client sends for req.end(body) on those methods.
    const text = await rawSocket(srv.port, 'DELETE /v1/ HTTP/1.1\r\nHost: x\r\nX-Project-Id: 123456\r\n\r\n"not a request"');
    expect(text.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    const r = parse(text);
    expect(r.status).toBe(405);
    expect(r.headers.get('connection')).toBe('close');
  });
});

describe("tenant ids '.' and '..'", () => {
  const req = (method: string, path: string, headers = ''): string =>
    `${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n${headers}Content-Length: 0\r\n\r\n`;

  it.each(['.', '..', '%2e', '%2E%2e'])('registry tenant %s: 400 fault naming tenantId', async (tenant) => {
    for (const path of [`/v1.0/${tenant}/services`, `/v1.0/${tenant}/configuration/x`, `/v1.0/${tenant}/limits`]) {
      const r = parse(await rawSocket(srv.port, req('GET', path)));
      expect(r.status).toBe(400);
      const body = JSON.parse(r.body) as Record<string, unknown>;
      expect(body).toMatchObject({ type: 'badRequest', code: 400, message: "Invalid value for 'tenantId' query string parameter" });
      expect(body.txnId).toBe(r.headers.get('x-response-id'));
    }
  });

  it('a tenant that merely contains dots is served', async () => {
    const r = parse(await rawSocket(srv.port, req('GET', '/v1.0/a..b/services')));
    expect(r.status).toBe(200);
  });

  it.each([
    ['path', 'PUT', '/v1/../queues/q1', ''],
    ['path', 'GET', '/v1/./queues', ''],
    ['header', 'PUT', '/v1/queues/q1', 'X-Project-Id: ..\r\n'],
    ['header', 'GET', '/v1/queues', 'X-Project-Id: .\r\n'],
  ])('queues project from the %s (%s %s): 400 Invalid queue identification', async (_where, method, path, header) => {
    const r = parse(await rawSocket(srv.port, req(method, path, `Client-ID: 3381af92-2b9e-11e3-b191-71861300734c\r\n${header}`)));
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toEqual({ title: 'Invalid queue identification', description: "The project ids '.' and '..' are reserved." });
  });
});
