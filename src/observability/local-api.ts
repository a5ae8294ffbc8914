import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { AgentStatus } from '../agent/status.js';
import type { ManifestIssue } from '../manifest/issues.js';
import type { AgentMetrics } from './metrics.js';

/** What the local API asks of the agent. */
export interface LocalApiHandlers {
  status(): AgentStatus;
  /** Ready: manifest loaded and the first sync with the registry done. */
  ready(): { ready: boolean; reason: string | null };
  /** Re-reads the manifest; resolves with what happened (never rejects). */
  reload(): Promise<{ ok: boolean; issues: ManifestIssue[] }>;
  /** A TTL check report; false when the service has no ttl check. */
  ttlReport(service: string, status: 'pass' | 'fail', note: string | null): boolean;
  metrics: AgentMetrics;
}

export interface LocalApi {
  url: string;
  port: number;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

/**
 * The agent's local HTTP API (loopback by default): /healthz, /readyz,
 * /metrics, /v1/status, POST /v1/reload, and POST /v1/checks/{service}/pass|fail
 * for ttl checks. Plain node:http: six routes need no framework.
 */
export async function startLocalApi(host: string, port: number, h: LocalApiHandlers, log: Logger): Promise<LocalApi> {
  let closing = false;
  const server: Server = createServer((req, res) => {
    if (closing) return send(res, 503, { error: 'shutting down' });
    route(req, res, h).catch((err: unknown) => {
      log.error({ err }, 'local API handler failed');
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shownHost}:${addr.port}`,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        server.close(() => resolve());
        server.closeIdleConnections();
        // A client still sending a request gets 1 s, then its connection is cut (shutdown is bounded).
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      }),
  };
}

async function route(req: IncomingMessage, res: ServerResponse, h: LocalApiHandlers): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://local');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';
  if (method === 'GET' && path === '/healthz') return sendText(res, 200, 'ok\n');
  if (method === 'GET' && path === '/readyz') {
    const r = h.ready();
    return send(res, r.ready ? 200 : 503, r);
  }
  if (method === 'GET' && path === '/metrics') {
    const text = await h.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': h.metrics.registry.contentType });
    res.end(text);
    return;
  }
  if (method === 'GET' && path === '/v1/status') return send(res, 200, h.status());
  if (method === 'POST' && path === '/v1/reload') {
    await readBody(req);
    const r = await h.reload();
    return send(res, r.ok ? 200 : 400, r);
  }
  const m = /^\/v1\/checks\/([^/]+)\/(pass|fail)$/.exec(path);
  if (m && (method === 'POST' || method === 'PUT')) {
    const note = noteOf(await readBody(req));
    const service = decodeURIComponent(m[1] as string);
    if (!h.ttlReport(service, m[2] as 'pass' | 'fail', note)) return send(res, 404, { error: `no ttl check for service "${service}"` });
    return send(res, 200, { ok: true });
  }
  return send(res, 404, { error: 'not found' });
}

/** The note of a TTL report: `{"note": "..."}`, or the raw body text. */
function noteOf(body: string): string | null {
  if (body.trim() === '') return null;
  try {
    const v = JSON.parse(body) as { note?: unknown };
    if (typeof v.note === 'string') return v.note;
  } catch {
    // not JSON: the text itself is the note
  }
  return body.slice(0, 1024);
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) break;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
