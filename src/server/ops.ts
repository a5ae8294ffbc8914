import type { ApiRequest, ApiResponse } from './exchange.js';
import type { ServerState } from './state.js';

/**
 * The operator's endpoints at the root, beside the APIs: `GET /healthz`
 * (the process answers), `GET /readyz` (the store answers and the server is
 * not draining: send traffic here) and `GET /metrics` (Prometheus text).
 * No token is asked, as etcd and Kubernetes components do: probes and
 * scrapers carry none, and these reveal no tenant's data.
 */

const PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** Longest wait for the store's answer before /readyz says 503 (under Kubernetes' 1 s probe default is too tight for etcd). */
export const READY_TIMEOUT_MS = 2_000;

/**
 * Answers the request when it is a GET or HEAD of one of the operator's
 * paths (a query string is ignored); returns false, touching nothing,
 * otherwise.
 */
export function serveOps(state: ServerState, req: ApiRequest, res: ApiResponse): boolean {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (!PATHS.has(path) || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
  req.routeTemplate = path;
  if (path === '/healthz') sendText(res, 200, 'ok\n');
  else if (path === '/readyz') void readyz(state, res);
  else void metrics(state, res);
  return true;
}

async function readyz(state: ServerState, res: ApiResponse): Promise<void> {
  const reason = await notReadyReason(state);
  const body = reason === null ? { ready: true } : { ready: false, reason };
  sendText(res, reason === null ? 200 : 503, `${JSON.stringify(body)}\n`, 'application/json; charset=utf-8');
}

/** Null when ready; else why not. One store check at a time: concurrent probes share it. */
async function notReadyReason(state: ServerState): Promise<string | null> {
  if (state.draining || state.closing) return 'draining';
  if (state.readiness === undefined) return null;
  state.readyCheck ??= checkStore(state).finally(() => (state.readyCheck = null));
  const reason = await state.readyCheck;
  // The server may have started draining while the store answered.
  return state.draining || state.closing ? 'draining' : reason;
}

async function checkStore(state: ServerState): Promise<string | null> {
  const check = state.readiness as () => Promise<void>;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve('store unreachable'), READY_TIMEOUT_MS);
  });
  try {
    return await Promise.race([check().then(() => null, () => 'store unreachable'), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function metrics(state: ServerState, res: ApiResponse): Promise<void> {
  try {
    const { text, contentType } = await state.metrics.scrape();
    sendText(res, 200, text, contentType);
  } catch (err) {
    state.logger.error({ err }, 'metrics scrape failed');
    sendText(res, 500, 'metrics unavailable\n');
  }
}

function sendText(res: ApiResponse, status: number, text: string, type = 'text/plain; charset=utf-8'): void {
  if (res.headersSent || res.destroyed) return;
  const headers = ['Content-Type', type, 'Content-Length', String(Buffer.byteLength(text))];
  res.writeHead(status, headers);
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
