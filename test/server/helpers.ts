import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { RegistryService } from '../../src/registry/service.js';
import type { Registry } from '../../src/registry/registry.js';
import { createRegistryServer, type RegistryServer, type RegistryServerOptions } from '../../src/server/index.js';
import { openSqliteStore } from '../../src/store/sqlite.js';

/** A real registry (RegistryService over in-memory SQLite) behind a real server on 127.0.0.1:0. */
export interface TestServer {
  url: string;
  port: number;
  server: RegistryServer;
  registry: Registry;
  close(): Promise<void>;
}

export async function startServer(opts: RegistryServerOptions = {}): Promise<TestServer> {
  const store = openSqliteStore({ path: ':memory:' });
  const registry = await RegistryService.open(store, { reaperIntervalMs: 0 });
  return startServerFor(registry, opts, async () => {
    await registry.close();
    await store.close();
  });
}

export async function startServerFor(registry: Registry, opts: RegistryServerOptions = {}, after?: () => Promise<void>): Promise<TestServer> {
  const server = createRegistryServer(registry, { hostname: 'testhost', ...opts });
  const { url, port } = await server.listen(0, '127.0.0.1');
  return {
    url,
    port,
    server,
    registry,
    async close() {
      await server.close();
      await after?.();
    },
  };
}

export interface RawReply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** Parsed body, or undefined when empty. */
  json: any;
}

export interface RawOptions {
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Send the body with chunked encoding (no Content-Length). */
  chunked?: boolean;
  signal?: AbortSignal;
}

/**
 * One request through node:http, path sent exactly as given (no URL
 * normalisation: `//`, `%80` and repeated params reach the server intact).
 * A JSON content type is sent only when the caller sets one.
 */
export function raw(port: number, method: string, path: string, opts: RawOptions = {}): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined && !opts.chunked) headers['content-length'] = String(Buffer.byteLength(opts.body));
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false, signal: opts.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: text === '' ? undefined : JSON.parse(text) });
      });
    });
    req.on('error', reject);
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

/** JSON helpers over raw() with `Content-Type: application/json`, as the official Node client sends. */
export function api(port: number, tenant: string, extraHeaders: Record<string, string> = {}) {
  const headers = { 'content-type': 'application/json', ...extraHeaders };
  const p = (path: string) => `/v1.0/${tenant}${path}`;
  return {
    get: (path: string) => raw(port, 'GET', p(path), { headers }),
    del: (path: string) => raw(port, 'DELETE', p(path), { headers }),
    post: (path: string, body: unknown) => raw(port, 'POST', p(path), { headers, body: JSON.stringify(body) }),
    put: (path: string, body: unknown) => raw(port, 'PUT', p(path), { headers, body: JSON.stringify(body) }),
  };
}

/** Writes `text` on a raw TCP socket and returns everything the server sends until it closes the socket. */
export function rawSocket(port: number, text: string | Buffer, endAfterWrite = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect(port, '127.0.0.1', () => {
      sock.write(text);
      if (endAfterWrite) sock.end();
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? resolve(Buffer.concat(chunks).toString('latin1')) : reject(err)));
    sock.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

/** A valid create-service body. */
export function serviceBody(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, heartbeat_timeout: 30, tags: ['db'], metadata: { region: 'dfw' }, ...extra };
}
