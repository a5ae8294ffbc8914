import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { AgentStatus } from '../agent/status.js';
import type { ManifestIssue } from '../manifest/issues.js';
import type { MaintenanceSnapshot } from '../sync/maintenance.js';
import type { AgentMetrics } from './metrics.js';
import { authorized, checkListenToken } from './local-api-auth.js';

/** What the local API asks of the agent. */
export interface LocalApiHandlers {
  status(): AgentStatus;
  /** Ready: manifest loaded and the first sync with the registry done. */
  ready(): { ready: boolean; reason: string | null };
  /** Re-reads the manifest; resolves with what happened (never rejects). */
  reload(): Promise<{ ok: boolean; issues: ManifestIssue[] }>;
  /** A TTL check report; false when the service has no ttl check. */
  ttlReport(service: string, status: 'pass' | 'fail', note: string | null): boolean;
  /** `tether maint`: enable or disable maintenance of a service, or agent-wide (service null). */
  maintenance(req: MaintenanceRequest): Promise<MaintenanceReply>;
  maintenanceState(): MaintenanceSnapshot;
  metrics: AgentMetrics;
}

export interface MaintenanceRequest {
  service: string | null;
  enable: boolean;
  reason: string | null;
}

export interface MaintenanceReply {
  status: number;
  body: unknown;
}

export interface LocalApi {
  url: string;
  port: number;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

/**
 * The agent's local HTTP API (loopback by default): /healthz, /readyz,
 * /metrics, /v1/status, POST /v1/reload, POST /v1/checks/{service}/pass|fail
 * for ttl checks, and /v1/maint (maintenance mode). Plain node:http: six routes need no framework.
 */
export async function startLocalApi(host: string, port: number, h: LocalApiHandlers, log: Logger, opts: { token?: string | undefined } = {}): Promise<LocalApi> {
  // Beyond loopback only with a token (see local-api-auth.ts); a configured token is required everywhere.
  checkListenToken(host, opts.token);
  let closing = false;
  const server: Server = createServer((req, res) => {
    if (closing) return send(res, 503, { error: 'shutting down' });
    if (!authorized(req, opts.token)) {
      res.setHeader('www-authenticate', 'Bearer');
      return send(res, 401, { error: 'this endpoint needs the agent token (Authorization: Bearer TOKEN or X-Tether-Token)' });
    }
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
  if (path === '/v1/maint' || path.startsWith('/v1/maint/')) return maintenance(req, res, url, path, h);
  const m = /^\/v1\/checks\/([^/]+)\/(pass|fail)$/.exec(path);
  if (m && (method === 'POST' || method === 'PUT')) {
    const note = noteOf(await readBody(req));
    const service = decodeURIComponent(m[1] as string);
    if (!h.ttlReport(service, m[2] as 'pass' | 'fail', note)) return send(res, 404, { error: `no ttl check for service "${service}"` });
    return send(res, 200, { ok: true });
  }
  return send(res, 404, { error: 'not found' });
}

/**
 * GET /v1/maint: the state. PUT /v1/maint?enable=true|false[&reason=TEXT]:
 * agent-wide; PUT /v1/maint/{service}?...: one service (as Consul's
 * /v1/agent/maintenance and /v1/agent/service/maintenance/{id}). The reason
 * may also come as the body, JSON `{"reason": "..."}` or text.
 */
async function maintenance(req: IncomingMessage, res: ServerResponse, url: URL, path: string, h: LocalApiHandlers): Promise<void> {
  const method = req.method ?? 'GET';
  const service = path === '/v1/maint' ? null : decodeURIComponent(path.slice('/v1/maint/'.length));
  if (service === '' || service?.includes('/')) return send(res, 404, { error: 'not found' });
  if (method === 'GET' && service === null) return send(res, 200, h.maintenanceState());
  if (method !== 'PUT') return send(res, 405, { error: 'use PUT /v1/maint or PUT /v1/maint/{service} with ?enable=true|false' });
  const enable = url.searchParams.get('enable');
  if (enable !== 'true' && enable !== 'false') return send(res, 400, { error: 'enable must be true or false' });
  const body = await readBody(req);
  const reason = url.searchParams.get('reason') ?? noteOf(body, 'reason');
  const r = await h.maintenance({ service, enable: enable === 'true', reason: reason === '' ? null : reason });
  return send(res, r.status, r.body);
}

/** The note of a TTL report: `{"note": "..."}`, or the raw body text. */
function noteOf(body: string, field: 'note' | 'reason' = 'note'): string | null {
  if (body.trim() === '') return null;
  try {
    const v = JSON.parse(body) as Record<string, unknown>;
    if (typeof v[field] === 'string') return v[field];
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
