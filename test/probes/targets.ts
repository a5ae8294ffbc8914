import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Real probe targets on 127.0.0.1 port 0. The HTTP target answers
 * `/?status=503&delay=100&body=text&size=N` (size: N bytes of "x" before
 * `body`) and records what it received.
 */
export interface HttpTarget {
  url: string;
  /** Requests received: method, url and lower-cased headers. */
  seen: Array<{ method: string; url: string; headers: IncomingMessage['headers'] }>;
  /** Requests whose connection closed before the answer was sent. */
  aborted: number;
  /** TCP connections accepted (keep-alive reuses one). */
  connections: number;
  close(): Promise<void>;
}

function handler(target: HttpTarget) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    target.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    const send = (): void => {
      res.statusCode = Number(q.get('status') ?? 200);
      res.end('x'.repeat(Number(q.get('size') ?? 0)) + (q.get('body') ?? 'hello'));
    };
    const delay = Number(q.get('delay') ?? 0);
    if (delay === 0) return send();
    const timer = setTimeout(send, delay);
    res.on('close', () => {
      if (!res.writableEnded) target.aborted++;
      clearTimeout(timer);
    });
  };
}

async function listen(server: Server, scheme: string): Promise<HttpTarget> {
  const target: HttpTarget = { url: '', seen: [], aborted: 0, connections: 0, close: async () => {} };
  server.on('request', handler(target));
  server.on(scheme === 'https' ? 'secureConnection' : 'connection', () => target.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  target.url = `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  target.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return target;
}

export function startHttpTarget(): Promise<HttpTarget> {
  return listen(createHttpServer(), 'http');
}

/** A fresh self-signed certificate for 127.0.0.1 (CN and IP subjectAltName), made by the openssl CLI into `dir`. */
export function selfSignedCert(dir: string): { key: Buffer; cert: Buffer } {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

/** An HTTPS target with a fresh self-signed certificate (see selfSignedCert). */
export function startHttpsTarget(dir: string): Promise<HttpTarget> {
  return listen(createHttpsServer(selfSignedCert(dir)) as unknown as Server, 'https');
}

/** A TCP listener that accepts and closes every connection; counts them. */
export async function startTcpTarget(): Promise<{ port: number; accepted: () => number; close(): Promise<void> }> {
  let accepted = 0;
  const server = createTcpServer((socket) => {
    accepted++;
    socket.on('error', () => {});
    socket.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A port on 127.0.0.1 that refuses connections: listened on, then closed. */
export async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
