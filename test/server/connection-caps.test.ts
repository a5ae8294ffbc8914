import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistryService } from '../../src/registry/service.js';
import { createQueueService } from '../../src/queues/service.js';
import { createRegistryServer, type RegistryServer } from '../../src/server/index.js';
import type { ConnectionLimits } from '../../src/server/connections.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { raw } from './helpers.js';
import { sampleValue } from './prom-text.js';

/**
 * Issue 19 item 3 on a real server (in this process, small numbers): the
 * per-client and total caps, and the head, body-idle and request timeouts;
 * long-polls of both APIs outlive every one of those timeouts.
 */

interface Srv {
  port: number;
  server: RegistryServer;
  close(): Promise<void>;
}

const open: Array<{ close(): Promise<void> }> = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of open.splice(0)) await s.close();
});

async function start(connections: Partial<ConnectionLimits>): Promise<Srv> {
  const store = openSqliteStore({ path: ':memory:' });
  const registry = await RegistryService.open(store, { reaperIntervalMs: 0 });
  const queues = await createQueueService(store, {});
  const server = createRegistryServer(registry, { hostname: 'testhost', queues, connections });
  const { port } = await server.listen(0, '127.0.0.1');
  const srv = {
    port,
    server,
    async close() {
      await server.close();
      await queues.close();
      await registry.close();
      await store.close();
    },
  };
  open.push(srv);
  return srv;
}

/** A connected socket from `localAddress`; records what the server sends and when it closes. */
function idleSocket(port: number, localAddress = '127.0.0.1'): Promise<{ sock: Socket; data: () => string; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    let text = '';
    const sock = connect({ port, host: '127.0.0.1', localAddress });
    sockets.push(sock);
    const closed = new Promise<number>((r) => sock.on('close', () => r(Date.now() - t0)));
    sock.on('data', (c: Buffer) => (text += c.toString('latin1')));
    sock.on('error', () => undefined);
    sock.once('connect', () => resolve({ sock, data: () => text, closed }));
    sock.once('error', reject);
  });
}

/** The status of a GET sent from `localAddress`. */
function getFrom(port: number, path: string, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, localAddress, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

function statusOf(text: string): number {
  return Number(text.split(' ')[1]);
}

function bodyOf(text: string): Record<string, unknown> {
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
}

describe('per-client cap', () => {
  it('refuses the connection past the cap with a 429 fault, serves other addresses, and frees a slot on close', async () => {
    const srv = await start({ maxPerClient: 5 });
    const held = await Promise.all(Array.from({ length: 5 }, () => idleSocket(srv.port)));
    const over = await idleSocket(srv.port);
    await over.closed;
    expect(statusOf(over.data())).toBe(429);
    expect(bodyOf(over.data())).toMatchObject({ type: 'rateLimitReached', code: 429, message: 'Too many connections' });
    // Another client address is served (Linux routes all of 127/8 to loopback).
    expect(await getFrom(srv.port, '/v1.0/t1/limits', '127.0.0.2')).toBe(200);
    // The held sockets are untouched: one of them still carries a request.
    const first = held[0] as Awaited<ReturnType<typeof idleSocket>>;
    first.sock.write('GET /v1.0/t1/limits HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await first.closed;
    expect(statusOf(first.data())).toBe(200);
    // Its slot is free again.
    await expect.poll(async () => (await raw(srv.port, 'GET', '/v1.0/t1/limits')).status, { timeout: 5000 }).toBe(200);
    const text = (await srv.server.metrics.scrape()).text;
    expect(sampleValue(text, 'tether_http_connections_refused_total', { cap: 'per_client' })).toBe(1);
  });
});

describe('total cap', () => {
  it('closes a connection past maxConnections at once, without touching the ones held', async () => {
    const srv = await start({ maxConnections: 4 });
    const held = await Promise.all(Array.from({ length: 4 }, () => idleSocket(srv.port)));
    const over = await idleSocket(srv.port, '127.0.0.3');
    const ms = await over.closed;
    expect(ms).toBeLessThan(2000);
    expect(over.data()).toBe('');
    await expect.poll(async () => sampleValue((await srv.server.metrics.scrape()).text, 'tether_http_connections_refused_total', { cap: 'total' })).toBe(1);
    const first = held[0] as Awaited<ReturnType<typeof idleSocket>>;
    first.sock.write('GET /v1.0/t1/limits HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await first.closed;
    expect(statusOf(first.data())).toBe(200);
  });
});

describe('slow clients', () => {
  const quick = { headersTimeoutMs: 1000, requestTimeoutMs: 2000, bodyIdleTimeoutMs: 1000 };

  it('a connection that sends no request is dropped after the head timeout with a 408 fault', async () => {
    const srv = await start(quick);
    const s = await idleSocket(srv.port);
    const ms = await s.closed;
    expect(ms).toBeGreaterThanOrEqual(900);
    expect(ms).toBeLessThan(4000);
    expect(statusOf(s.data())).toBe(408);
    expect(bodyOf(s.data())).toMatchObject({ type: 'badRequest', code: 408, message: 'Request timeout' });
  });

  it('a body that stops arriving is dropped after the body-idle timeout with a 408 fault', async () => {
    const srv = await start({ ...quick, requestTimeoutMs: 20_000 });
    const s = await idleSocket(srv.port);
    s.sock.write('POST /v1.0/t1/services HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id":');
    const ms = await s.closed;
    expect(ms).toBeLessThan(4000);
    expect(statusOf(s.data())).toBe(408);
    expect(bodyOf(s.data()).txnId).toMatch(/^\.rh-/);
  });

  it('a body trickled a byte at a time is dropped at the request timeout (408 fault)', async () => {
    const srv = await start({ headersTimeoutMs: 1000, requestTimeoutMs: 2500, bodyIdleTimeoutMs: 1000 });
    const s = await idleSocket(srv.port);
    s.sock.write('POST /v1/queues/q1/messages HTTP/1.1\r\nHost: x\r\nX-Project-Id: p1\r\nClient-ID: 3381af92-2b9e-11e3-b191-71861300734c\r\nContent-Length: 1000\r\n\r\n');
    const trickle = setInterval(() => s.sock.writable && s.sock.write('['), 400);
    const ms = await s.closed;
    clearInterval(trickle);
    expect(ms).toBeGreaterThanOrEqual(2000);
    expect(ms).toBeLessThan(6000);
    expect(statusOf(s.data())).toBe(408);
  });

  it('long-polls of both APIs outlive the head, body-idle and request timeouts', async () => {
    const srv = await start(quick);
    const t0 = Date.now();
    const [events, messages] = await Promise.all([
      raw(srv.port, 'GET', '/v1.0/t1/events?wait=4', { headers: { 'content-type': 'application/json' } }),
      raw(srv.port, 'GET', '/v1/queues/q1/messages?wait=4', { headers: { 'x-project-id': 'p1', 'client-id': '3381af92-2b9e-11e3-b191-71861300734c' } }),
    ]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3500);
    expect(events.status).toBe(200);
    expect(messages.status).toBe(204);
  });

  it('a keep-alive connection idle longer than the head timeout still carries its next request', async () => {
    const srv = await start(quick);
    const s = await idleSocket(srv.port);
    s.sock.write('GET /v1.0/t1/limits HTTP/1.1\r\nHost: x\r\n\r\n');
    await expect.poll(() => statusOf(s.data()), { timeout: 5000 }).toBe(200);
    await new Promise((r) => setTimeout(r, 2500));
    s.sock.write('GET /v1.0/t1/limits HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await s.closed;
    expect(s.data().match(/HTTP\/1\.1 200/g)).toHaveLength(2);
  });
});
