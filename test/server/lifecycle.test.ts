import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import pino from 'pino';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RegistryFault, faults } from '../../src/registry/faults.js';
import type { Registry } from '../../src/registry/registry.js';
import { api, raw, startServer, startServerFor } from './helpers.js';

/** Error mapping (500/503) and graceful close. */

/** A Registry whose `getLimits` runs `impl`; every other method is unused here. */
function limitsOnly(impl: () => Promise<unknown>): Registry {
  return new Proxy({} as Registry, {
    get: (_t, prop) => (prop === 'getLimits' ? impl : prop === 'close' ? async () => {} : undefined),
  });
}

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, logger: pino({ level: 'info' }, dest) };
}

describe('error mapping', () => {
  it('maps a plain Error to 500 Internal Error and logs it', async () => {
    const { lines, logger } = capture();
    const t = await startServerFor(limitsOnly(async () => { throw new Error('boom'); }), { logger });
    try {
      const r = await raw(t.port, 'GET', '/v1.0/7777/limits?x-auth-token=hidden', {});
      expect(r.status).toBe(500);
      expect(r.json).toEqual({ type: 'internalError', code: 500, message: 'Internal Error', details: 'Internal Error', txnId: r.headers['x-response-id'] });
      await expect.poll(() => lines.length).toBe(1);
      expect(lines[0]).toMatchObject({ level: 50, txnId: r.headers['x-response-id'], route: 'limits.get', err: { message: 'boom' } });
      expect(JSON.stringify(lines)).not.toContain('hidden');
    } finally {
      await t.close();
    }
  });

  it('passes a 503 systemFailureError through and hides 5xx texts', async () => {
    const t1 = await startServerFor(limitsOnly(async () => { throw faults.unavailable(); }));
    const t2 = await startServerFor(limitsOnly(async () => { throw new RegistryFault('notImplementedError', 'secret detail', 'more'); }));
    try {
      const r1 = await raw(t1.port, 'GET', '/v1.0/7777/limits', {});
      expect(r1.status).toBe(503);
      expect(r1.json).toMatchObject({ type: 'systemFailureError', code: 503, message: 'Internal Error', details: 'Internal Error' });
      const r2 = await raw(t2.port, 'GET', '/v1.0/7777/limits', {});
      expect(r2.status).toBe(501);
      expect(r2.json).toMatchObject({ type: 'notImplementedError', code: 501, message: 'Internal Error', details: 'Internal Error' });
    } finally {
      await t1.close();
      await t2.close();
    }
  });
});

describe('close()', () => {
  it('aborts long-polls with 503, then resolves; idempotent', async () => {
    const t = await startServer();
    const poll = api(t.port, 'closing').get('/events?wait=30');
    await new Promise((r) => setTimeout(r, 150));
    const started = Date.now();
    const c1 = t.server.close();
    expect(t.server.close()).toBe(c1);
    const r = await poll;
    expect(r.status).toBe(503);
    expect(r.json.type).toBe('systemFailureError');
    expect(r.headers.connection).toBe('close');
    await c1;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(t.server.server.listening).toBe(false);
    await t.close();
  });

  it('answers 503 to requests arriving while draining, and waits for in-flight ones', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const t = await startServerFor(limitsOnly(async () => {
      calls++;
      await gate;
      return { resource: {}, rate: {} };
    }));
    const slow = raw(t.port, 'GET', '/v1.0/7777/limits', {});
    await expect.poll(() => calls).toBe(1);

    // A second connection with a request head half sent: not idle, so close() keeps it.
    const sock = connect(t.port, '127.0.0.1');
    const received: Buffer[] = [];
    sock.on('data', (c: Buffer) => received.push(c));
    const sockClosed = new Promise<void>((r) => sock.on('close', () => r()));
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('GET /v1.0/7777/limits HTTP/1.1\r\nHost: x\r\n');
    await new Promise((r) => setTimeout(r, 50));

    let closed = false;
    const closing = t.server.close().then(() => (closed = true));
    sock.write('\r\n');
    await expect.poll(() => Buffer.concat(received).toString()).toMatch(/^HTTP\/1\.1 503 /);
    expect(Buffer.concat(received).toString()).toMatch(/systemFailureError/);
    expect(closed).toBe(false);

    release();
    const r = await slow;
    expect(r.status).toBe(200);
    expect(r.headers.connection).toBe('close');
    await closing;
    await sockClosed;
    expect(calls).toBe(1);
  });

  it('ends idle keep-alive sockets', async () => {
    const t = await startServer();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: t.port, path: '/v1.0/ka/limits', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
      expect(first).toBe(200);
      const started = Date.now();
      await t.close();
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      agent.destroy();
    }
  });
});
