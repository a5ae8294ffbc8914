import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { spawn } from 'node:child_process';
import { connect, createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpPool, POOL_BODY_TIMEOUT, POOL_CLOSED, POOL_CONNECT_TIMEOUT, POOL_HEADERS_TIMEOUT, readText } from '../../src/lib/http-pool.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { selfSignedCert } from '../probes/targets.js';

/** HttpPool (node:http keep-alive pool) against real servers on 127.0.0.1. */

const servers: Array<Server | TcpServer> = [];
const pools: HttpPool[] = [];

async function listen<S extends Server | TcpServer>(server: S): Promise<{ server: S; origin: string; port: number }> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { server, origin: `http://127.0.0.1:${port}`, port };
}

function pool(origin: string, tls?: ConstructorParameters<typeof HttpPool>[1]): HttpPool {
  const p = new HttpPool(origin, tls);
  pools.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.destroy()));
  for (const s of servers.splice(0)) {
    if ('closeAllConnections' in s) s.closeAllConnections();
    s.close();
  }
});

describe('HttpPool', () => {
  it('sends method, path, headers and body, and reuses one keep-alive connection for sequential requests', async () => {
    const seen: string[] = [];
    let connections = 0;
    const { server, origin } = await listen(
      createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          seen.push(`${req.method} ${req.url} ${req.headers['x-test']} ${req.headers['content-length']} ${body}`);
          res.end(`echo:${body}`);
        });
      }),
    );
    server.on('connection', () => connections++);
    const p = pool(origin);
    for (const n of [1, 2, 3]) {
      const res = await p.request({ path: `/a?n=${n}`, method: 'PUT', headers: { 'x-test': 'yes' }, body: `é${n}` });
      expect(res.statusCode).toBe(200);
      expect(await readText(res.body)).toBe(`echo:é${n}`);
    }
    expect(seen).toEqual(['PUT /a?n=1 yes 3 é1', 'PUT /a?n=2 yes 3 é2', 'PUT /a?n=3 yes 3 é3']);
    expect(connections).toBe(1);
  });

  it('sends a request again on a new connection when the kept-alive one was closed under it', async () => {
    // A raw server: answers the first request of each connection with keep-alive, and closes
    // the connection without an answer when a second request arrives on it (the idle-close race).
    let connections = 0;
    const { origin } = await listen(
      createTcpServer((socket) => {
        connections++;
        let requests = 0;
        socket.on('error', () => {});
        socket.on('data', () => {
          if (++requests > 1) return void socket.destroy();
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok');
        });
      }),
    );
    const p = pool(origin);
    for (let i = 0; i < 3; i++) {
      const res = await p.request({ path: '/', method: 'POST', body: '{}' });
      expect(await readText(res.body)).toBe('ok');
    }
    expect(connections).toBe(3);
    // Unless the request must not be applied twice: then the reset is the caller's to judge.
    await expect(p.request({ path: '/', method: 'POST', body: '{}', retryOnReset: false })).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  it('rejects with the signal reason on abort, and after close() with the pool-closed code; close() waits for requests in flight', async () => {
    const { origin } = await listen(createServer((req, res) => void setTimeout(() => res.end(req.url), Number(req.url?.slice(1)))));
    const p = pool(origin);
    const ac = new AbortController();
    const slow = p.request({ path: '/5000', method: 'GET', signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop now')), 20);
    await expect(slow).rejects.toThrow('stop now');

    const inFlight = p.request({ path: '/150', method: 'GET' }).then((r) => readText(r.body));
    await new Promise((r) => setTimeout(r, 20));
    const closed = p.close();
    expect(await inFlight).toBe('/150');
    await closed;
    await expect(p.request({ path: '/1', method: 'GET' })).rejects.toMatchObject({ code: POOL_CLOSED });
  });

  it('close() is idempotent: every call, made while a request is in flight, resolves once it is done', async () => {
    const { origin } = await listen(createServer((req, res) => void setTimeout(() => res.end(req.url), 200)));
    const p = pool(origin);
    const inFlight = p.request({ path: '/slow', method: 'GET' }).then((r) => readText(r.body));
    await new Promise((r) => setTimeout(r, 20));
    let resolved = 0;
    const closes = [p.close(), p.close(), p.close()].map((c) => c.then(() => resolved++));
    expect(resolved).toBe(0);
    expect(await inFlight).toBe('/slow');
    await Promise.all(closes);
    expect(resolved).toBe(3);
    await p.close(); // after the fact too
  });

  it('destroy() during a close() fails the request in flight and lets the close resolve', async () => {
    const { origin } = await listen(createServer(() => undefined)); // never answers
    const p = pool(origin);
    const hanging = p.request({ path: '/', method: 'GET' });
    hanging.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 20));
    const closing = p.close();
    await p.destroy();
    await closing;
    await expect(hanging).rejects.toMatchObject({ code: POOL_CLOSED });
  });

  it('fails a request without a response head in headersTimeoutMs, and the next one still works', async () => {
    const { origin } = await listen(createServer((req, res) => (req.url === '/hang' ? undefined : res.end('ok'))));
    const p = pool(origin);
    const t0 = performance.now();
    await expect(p.request({ path: '/hang', method: 'GET', headersTimeoutMs: 150 })).rejects.toMatchObject({ code: POOL_HEADERS_TIMEOUT });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    const res = await p.request({ path: '/', method: 'GET', headersTimeoutMs: 150 });
    expect(await readText(res.body)).toBe('ok');
  });

  it('opens at most maxSockets connections (others wait) and drops connections idle past idleTimeoutMs', async () => {
    let open = 0;
    let peak = 0;
    const { server, origin } = await listen(createServer((_req, res) => void setTimeout(() => res.end('x'), 50)));
    server.on('connection', (socket) => {
      peak = Math.max(peak, ++open);
      socket.on('close', () => open--);
    });
    const p = new HttpPool(origin, { maxSockets: 2, idleTimeoutMs: 200 });
    pools.push(p);
    const bodies = await Promise.all(Array.from({ length: 6 }, () => p.request({ path: '/', method: 'GET' }).then((r) => readText(r.body))));
    expect(bodies).toEqual(Array(6).fill('x'));
    expect(peak).toBe(2);
    await expect.poll(() => open, { timeout: 5000 }).toBe(0);
  });

  it('readText rejects a body that stalls past its timeout, and one cut short', async () => {
    const { origin } = await listen(
      createServer((req, res) => {
        res.writeHead(200, { 'content-length': '10' });
        res.write('half');
        if (req.url === '/cut') setTimeout(() => res.destroy(), 20);
      }),
    );
    const p = pool(origin);
    const stalled = await p.request({ path: '/stall', method: 'GET' });
    await expect(readText(stalled.body, 100)).rejects.toMatchObject({ code: POOL_BODY_TIMEOUT });
    const cut = await p.request({ path: '/cut', method: 'GET' });
    await expect(readText(cut.body, 5000)).rejects.toThrow();
  });

  it('fails a request whose connection is not established in connectTimeoutMs with POOL_CONNECT_TIMEOUT', async () => {
    // A listener that never accepts, its backlog filled: the kernel drops further SYNs, so a connect hangs.
    const listener = spawn('python3', ['-c', 'import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)']);
    const fillers: Socket[] = [];
    try {
      const port = await new Promise<number>((resolve) => listener.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
      for (let i = 0; i < 3; i++) fillers.push(connect(port, '127.0.0.1').on('error', () => undefined));
      const p = new HttpPool(`http://127.0.0.1:${port}`, { connectTimeoutMs: 200 });
      pools.push(p);
      const t0 = performance.now();
      await expect(p.request({ path: '/', method: 'GET' })).rejects.toMatchObject({ code: POOL_CONNECT_TIMEOUT });
      expect(performance.now() - t0).toBeLessThan(3000);
      // A response-head deadline that comes first says the same: nothing was sent.
      const both = new HttpPool(`http://127.0.0.1:${port}`, { connectTimeoutMs: 5000 });
      pools.push(both);
      await expect(both.request({ path: '/', method: 'GET', headersTimeoutMs: 200 })).rejects.toMatchObject({ code: POOL_CONNECT_TIMEOUT });
    } finally {
      for (const s of fillers) s.destroy();
      listener.kill();
    }
  });

  it('judges a connect deadline after the I/O that came while the event loop was busy past it', async () => {
    const { origin } = await listen(createServer((_req, res) => res.end('ok')));
    const p = pool(origin, { connectTimeoutMs: 50 });
    const pending = p.request({ path: '/', method: 'GET' });
    // After the request's own nextTicks (the connect is issued, its deadline armed), the loop is held
    // for 6x the deadline; the loopback connect completes in the kernel meanwhile. Then the timers run
    // before the poll that delivers 'connect': judged at once, the request failed "not connected".
    process.nextTick(() =>
      process.nextTick(() => {
        for (const until = performance.now() + 300; performance.now() < until; );
      }),
    );
    const res = await pending;
    expect(res.statusCode).toBe(200);
    expect(await readText(res.body)).toBe('ok');
  });

  describe('https', () => {
    let tmp: TempDir;
    let cert: Buffer;
    let key: Buffer;
    beforeAll(async () => {
      tmp = await createTempDir('node-http');
      ({ cert, key } = selfSignedCert(tmp.path));
    });
    afterAll(async () => {
      await tmp.remove();
    });

    it('verifies the server against the given CA, and refuses an unknown certificate', async () => {
      const { port } = await listen(createHttpsServer({ key, cert }, (_req, res) => res.end('secure')));
      const origin = `https://127.0.0.1:${port}`;
      const trusted = await pool(origin, { ca: cert }).request({ path: '/', method: 'GET' });
      expect(await readText(trusted.body)).toBe('secure');
      await expect(pool(origin).request({ path: '/', method: 'GET' })).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    });

    it('updateTls: an old agent is dropped with its connections once its requests are done, none piles up over reloads', async () => {
      const open = new Set<Socket>();
      let release: () => void = () => {};
      const server = createHttpsServer({ key, cert, keepAliveTimeout: 60_000 }, (req, res) => {
        if (req.url === '/slow') release = () => res.end('slow');
        else res.end('ok');
      });
      server.on('secureConnection', (socket: Socket) => {
        open.add(socket);
        socket.once('close', () => open.delete(socket));
      });
      const { port } = await listen(server);
      const p = pool(`https://127.0.0.1:${port}`, { ca: cert });
      const get = async (path = '/') => readText((await p.request({ path, method: 'GET' })).body);
      // Ten reloads, each after a request that leaves a kept-alive connection idle.
      for (let i = 0; i < 10; i++) {
        expect(await get()).toBe('ok');
        p.updateTls({ ca: cert });
      }
      expect(await get()).toBe('ok');
      await expect.poll(() => open.size, { timeout: 10_000 }).toBe(1);
      // A request in flight across a reload finishes on its connection, which is closed after it.
      let arrived = false;
      server.on('request', (req: { url?: string }) => void (req.url === '/slow' && (arrived = true)));
      const slow = p.request({ path: '/slow', method: 'GET' });
      await expect.poll(() => arrived, { timeout: 10_000 }).toBe(true);
      p.updateTls({ ca: cert });
      expect(await get()).toBe('ok');
      expect(open.size).toBe(2);
      release();
      expect(await readText((await slow).body)).toBe('slow');
      await expect.poll(() => open.size, { timeout: 10_000 }).toBe(1);
    });
  });
});
