import { createServer, ServerResponse, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { Server as TlsServer } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { silentLogger, type Logger } from '../observability/logger.js';
import { ServerMetrics } from '../observability/server-metrics.js';
import { faults } from '../registry/faults.js';
import type { Registry } from '../registry/registry.js';
import type { AuthTable } from './auth.js';
import { ApiRequest, type ApiResponse } from './exchange.js';
import { onRequest } from './pipeline.js';
import type { ServerState } from './state.js';
import type { AccessLog } from './access-log.js';
import { CONNECTIONS_CHECK_MS, defaultConnectionLimits, guardConnections, onClientError, watchHandshakes, type ConnectionLimits } from './connections.js';
import { transactionId } from './http-io.js';
import { processStallClock } from '../lib/stall-clock.js';
import type { ServerTlsOptions } from './tls.js';
import type { Queues } from '../queues/queues.js';
import type { RouteStore } from '../routes/route-store.js';
import { DEFAULT_QUEUE_LIMITS, type QueueLimits } from '../queues/types.js';

/**
 * The Service Registry REST API v1.0 (plus Tether's sessions and events
 * long-poll extensions) over any `Registry`.
 *
 * Plain `node:http`, deliberately not fastify (or any framework): the
 * contract needs byte-exact control that frameworks take away or make
 * costly: the bare 413 (empty body, Connection: close) decided while the body
 * streams in, a content-type check on every request (GET and DELETE too),
 * fault bodies with the spec's texts for every failure (routing included),
 * `//` kept in configuration paths, and no 405 ever. It also keeps the
 * heartbeat path short (see pipeline.ts for the order of checks).
 */

export { createAuthTable, loadAuthFile, type AuthTable, type TokenGrant } from './auth.js';

export interface RegistryServerOptions {
  logger?: Logger;
  /** Static tokens: token -> tenant it may access. Absent = open server (caller logs a warning). */
  auth?: AuthTable;
  /** Hostname used in X-Response-Id / txnId generation; default os.hostname(). */
  hostname?: string;
  /** Where requests are counted, served at /metrics; default: a registry of this server's own, without process metrics. */
  metrics?: ServerMetrics;
  /** Resolves when the store answers, rejects otherwise: `GET /readyz`. Default: ready while not draining. */
  readiness?: () => Promise<void>;
  /**
   * How long close() keeps serving with /readyz at 503 before it stops
   * accepting, so load balancers move away first (Kubernetes endpoints
   * update after the pod is told to stop). Default 0.
   */
  shutdownDelayMs?: number;
  /**
   * Serves the Cloud Queues v1 API under `/v1` (same port, same auth: a
   * tenant's token is valid for that project id). The wire's body caps are
   * the service's own `limits` (QueueService has them; DEFAULT_QUEUE_LIMITS otherwise).
   */
  queues?: Queues & { readonly limits?: Readonly<QueueLimits> };
  /** Serves `/v1.0/{tenant}/event-routes` (extension, issue 16); the caller runs the RouteDeliverer. */
  routes?: RouteStore;
  /** Connection caps and slow-client timeouts (connections.ts); each field defaults to defaultConnectionLimits()'s. */
  connections?: Partial<ConnectionLimits>;
  /** Writes one line per exchange (`--access-log`); the caller closes it after the server. */
  accessLog?: AccessLog;
  /** Serves HTTPS with this material (see tls.ts: files, client certificates, reload with setSecureContext on `server`). */
  tls?: ServerTlsOptions;
}

export interface RegistryServer {
  /** Listens; resolves with the bound address and the base URL `http://host:port`. */
  listen(port: number, host: string): Promise<{ url: string; port: number; host: string }>;
  /**
   * Graceful: /readyz turns 503 and requests are still served for the
   * shutdown delay; then stop accepting, answer 503 systemFailureError to new requests
   * while draining, end idle keep-alive sockets, wait for in-flight requests
   * (long-polls are aborted via their AbortSignal and answer 503), then
   * resolve. Does not close the registry. Idempotent.
   */
  close(): Promise<void>;
  readonly server: Server;
  /** The server's metrics (also what /metrics serves). */
  readonly metrics: ServerMetrics;
}

/** Keep-alive sockets outlive typical load-balancer idle timeouts (60 s). */
const KEEP_ALIVE_MS = 65_000;

export function createRegistryServer(registry: Registry, opts: RegistryServerOptions = {}): RegistryServer {
  const limits: ConnectionLimits = { ...defaultConnectionLimits(), ...opts.connections };
  const state: ServerState = {
    registry,
    queues: opts.queues === undefined ? undefined : { service: opts.queues, limits: opts.queues.limits ?? DEFAULT_QUEUE_LIMITS, polls: new Set() },
    routes: opts.routes,
    logger: (opts.logger ?? silentLogger()).child({ component: 'registry-server' }),
    auth: opts.auth,
    hostname: (opts.hostname ?? osHostname()).replace(/[^A-Za-z0-9_.-]/g, '-'),
    counter: 0,
    draining: false,
    closing: false,
    inflight: 0,
    polls: new Set(),
    onDrained: null,
    metrics: opts.metrics ?? new ServerMetrics(),
    readiness: opts.readiness,
    readyCheck: null,
    bodyIdleTimeoutMs: limits.bodyIdleTimeoutMs,
    accessLog: opts.accessLog,
  };
  // Queue long-polls sit in state.polls too (close() aborts them all) and are counted apart.
  state.metrics.countLongPolls('registry', () => state.polls.size - (state.queues?.polls.size ?? 0));
  if (state.queues !== undefined) state.metrics.countLongPolls('queues', () => state.queues?.polls.size ?? 0);
  // Host is checked by the pipeline (a fault body, not Node's bare 400); timeouts are checked every second.
  const serverOpts = { IncomingMessage: ApiRequest, noDelay: true, requireHostHeader: false, connectionsCheckingInterval: CONNECTIONS_CHECK_MS };
  const handler = (req: ApiRequest, res: ApiResponse): void => onRequest(state, req, res, false);
  const server =
    opts.tls === undefined
      ? createServer<typeof ApiRequest, typeof ServerResponse<ApiRequest>>(serverOpts, handler)
      : // A client that never completes its handshake is dropped as soon as one that never sends its head.
        createHttpsServer<typeof ApiRequest, typeof ServerResponse<ApiRequest>>({ ...serverOpts, handshakeTimeout: limits.headersTimeoutMs, ...opts.tls }, handler);
  server.on('checkContinue', (req: ApiRequest, res: ApiResponse) => onRequest(state, req, res, true));
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  // Node times a request head from its first byte, so an idle keep-alive socket is not cut by headersTimeout.
  const txnId = (): string => transactionId(undefined, state);
  guardConnections(server, limits, state.logger, txnId, (cap) => state.metrics.observeRefusedConnection(cap));
  state.metrics.countStalls(() => processStallClock().stalledMs() / 1000);
  watchHandshakes(server, state.logger, (reason) => state.metrics.observeHandshakeFailure(reason));
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    const id = txnId();
    const status = onClientError(err, socket, id);
    if (status !== 0) state.accessLog?.refused(status, id, socket.remoteAddress);
  });

  let closed: Promise<void> | null = null;
  return {
    server,
    metrics: state.metrics,
    listen: (port, host) => listen(server, port, host),
    close: () => (closed ??= close(server, state, opts.shutdownDelayMs ?? 0)),
  };
}

function listen(server: Server, port: number, host: string): Promise<{ url: string; port: number; host: string }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // The kernel caps the backlog at net.core.somaxconn: ask for that much, as Go servers (etcd) do.
    // Node's default of 511 resets connections when a fleet reconnects at once (after a restart).
    server.listen({ port, host, backlog: 65_535 }, () => {
      server.off('error', reject);
      const addr = server.address() as AddressInfo;
      const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      const scheme = server instanceof TlsServer ? 'https' : 'http';
      resolve({ url: `${scheme}://${h}:${addr.port}`, port: addr.port, host: addr.address });
    });
  });
}

/** How long close() waits for in-flight requests before cutting their connections. */
const DRAIN_MS = 3000;

async function close(server: Server, state: ServerState, delayMs: number): Promise<void> {
  state.draining = true;
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  state.closing = true;
  const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const poll of state.polls) poll.abort(faults.unavailable());
  server.closeIdleConnections();
  if (state.inflight > 0) {
    // Drain, but not forever: a client trickling a body must not hold shutdown hostage.
    await new Promise<void>((resolve) => {
      const bound = setTimeout(resolve, DRAIN_MS);
      bound.unref();
      state.onDrained = () => {
        clearTimeout(bound);
        resolve();
      };
    });
  }
  // Whatever is left is a socket between requests (or mid-head): nothing to wait for.
  server.closeAllConnections();
  await stopped;
}
