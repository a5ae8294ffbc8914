import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import type { Logger } from '../observability/logger.js';
import { faultForClientError, writeRawFault, type RawFault } from './raw-fault.js';

/**
 * Connection caps and slow-client timeouts (issue 19 item 3). Idle or slow
 * sockets must not starve real clients: the server refuses connections
 * beyond a total cap (below the descriptor limit, so accept() never fails
 * with EMFILE) and beyond a per-address cap (Consul's
 * `http_max_conns_per_client`, 200), and drops a client whose request head
 * or body does not arrive in time. Long-polls are not cut: every timeout
 * here ends when the request has been read, and a long-poll waits after that.
 */

export interface ConnectionLimits {
  /** Open connections in total; beyond it a new one is closed at once. */
  maxConnections: number;
  /** Open connections per client address; beyond it a new one gets a 429 fault and is closed. */
  maxPerClient: number;
  /** From the first byte of a request to the end of its head (Node's headersTimeout; also a fresh idle connection). */
  headersTimeoutMs: number;
  /** From the first byte of a request to the end of its body (Node's requestTimeout). */
  requestTimeoutMs: number;
  /** Longest silence while a request body is being received. */
  bodyIdleTimeoutMs: number;
}

/** Descriptors kept for everything but client connections: the database, etcd, logs, the listening socket. */
const FD_HEADROOM = 128;

/** Node checks header and request deadlines on this period (its default, 30 s, would let a 10 s timeout run 40 s). */
export const CONNECTIONS_CHECK_MS = 1000;

/**
 * The soft limit of open files (`ulimit -n`) from /proc/self/limits, or
 * undefined where that cannot be read (not Linux).
 */
export function openFilesLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
  if (m === null || m[1] === 'unlimited') return undefined;
  return Number(m[1]);
}

/** The default total cap: the descriptor limit less headroom (at least 16), or 4096 when the limit is unknown. */
export function defaultMaxConnections(fdLimit: number | undefined): number {
  return fdLimit === undefined ? 4096 : Math.max(16, fdLimit - FD_HEADROOM);
}

export function defaultConnectionLimits(): ConnectionLimits {
  return { maxConnections: defaultMaxConnections(openFilesLimit()), maxPerClient: 200, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, bodyIdleTimeoutMs: 10_000 };
}

const OVER_CLIENT_CAP: RawFault = {
  status: 429,
  type: 'rateLimitReached',
  message: 'Too many connections',
  details: 'This client address has too many open connections to the server; reuse or close some.',
};

/** Responses in progress, per connection: the one, or in order when pipelining holds several. */
const replying = new WeakMap<Socket, ServerResponse | ServerResponse[]>();
/** What to do with a connection once its last reply is out. */
const afterReplies = new WeakMap<Socket, () => void>();

/** How often a refusal is logged at most (an attack must not become a log flood). */
const REFUSAL_LOG_EVERY_MS = 10_000;

/**
 * Applies `limits` to `server`: Node's own total cap and timeouts, plus a
 * per-address count. `txnId` makes the id of a refusal's fault. The
 * timeouts' check period is a constructor option of the server
 * (CONNECTIONS_CHECK_MS): the caller passes it there.
 */
export function guardConnections(server: Server, limits: ConnectionLimits, log: Logger, txnId: () => string, onRefused: (cap: 'total' | 'per_client') => void = () => {}): void {
  server.maxConnections = limits.maxConnections;
  // Node wants the head's deadline within the whole request's.
  server.headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  server.requestTimeout = limits.requestTimeoutMs;
  const tls = server instanceof TlsServer;
  const perClient = new Map<string, Peer>();
  const refused = { total: 0, perClient: 0, loggedAt: 0 };
  const noteRefusal = (kind: 'total' | 'perClient'): void => {
    refused[kind]++;
    onRefused(kind === 'total' ? 'total' : 'per_client');
    const now = Date.now();
    if (now - refused.loggedAt < REFUSAL_LOG_EVERY_MS) return;
    refused.loggedAt = now;
    log.warn({ refusedTotalCap: refused.total, refusedPerClientCap: refused.perClient, limits: { maxConnections: limits.maxConnections, maxPerClient: limits.maxPerClient } }, 'connections refused over the caps');
  };
  // Node closes connections beyond maxConnections itself, before any of our code runs.
  server.on('drop', () => noteRefusal('total'));
  server.on('request', trackReply);
  server.on('connection', (socket: Socket) => {
    const addr = socket.remoteAddress ?? '';
    let peer = perClient.get(addr);
    if (peer !== undefined && peer.open >= limits.maxPerClient) {
      noteRefusal('perClient');
      // Before a TLS handshake, plain HTTP bytes would be noise to the client: only close.
      if (tls) socket.destroy();
      else writeRawFault(socket, OVER_CLIENT_CAP, txnId());
      return;
    }
    if (peer === undefined) perClient.set(addr, (peer = { addr, open: 0, table: perClient }));
    peer.open++;
    peerOf.set(socket, peer);
    socket.on('close', onConnectionClosed);
  });
}

/** The open connections of one client address (shared by them: a connection holds no closure of its own). */
interface Peer {
  readonly addr: string;
  open: number;
  /** The server's table it is in. */
  readonly table: Map<string, Peer>;
}

const peerOf = new WeakMap<Socket, Peer>();

/** A counted connection closed ('close' comes once): its address has one fewer. */
function onConnectionClosed(this: Socket): void {
  const peer = peerOf.get(this);
  if (peer === undefined) return;
  peerOf.delete(this);
  if (--peer.open <= 0 && peer.table.get(peer.addr) === peer) peer.table.delete(peer.addr);
}

/** Notes a response in progress on its connection until it closes. */
function trackReply(req: IncomingMessage, res: ServerResponse): void {
  const open = replying.get(req.socket);
  // A lone response is kept as it is: no array per request for the common case.
  if (open === undefined) replying.set(req.socket, res);
  else if (Array.isArray(open)) open.push(res);
  else replying.set(req.socket, [open, res]);
  // A module-level listener, not a closure or a once() wrapper per request: a waiting long-poll holds it.
  res.on('close', onReplyClosed);
}

/** A response closed ('close' comes once): forgotten; after its connection's last one, what waited for it runs. */
function onReplyClosed(this: ServerResponse): void {
  const socket = this.req.socket;
  const open = replying.get(socket);
  if (Array.isArray(open)) {
    const at = open.indexOf(this);
    if (at !== -1) open.splice(at, 1);
    if (open.length > 0) return;
  } else if (open !== undefined && open !== this) {
    return;
  }
  replying.delete(socket);
  afterReplies.get(socket)?.();
  afterReplies.delete(socket);
}

/**
 * The 'clientError' listener: a request Node's parser refused, or one whose
 * head or body came too slowly, gets a fault (registry body, X-Response-Id)
 * instead of Node's bare status line. A peer that reset the connection gets
 * nothing. (A reply of ours is written whole, head and body at once, so no
 * fault can land in the middle of one; Node's own handler writes its 400 in
 * the same cases.) Returns the status written, 0 when the socket was only closed.
 */
export function onClientError(err: Error & { code?: string }, socket: Socket, txnId: string): number {
  // A TLS handshake that failed or timed out has no channel to carry a fault (a write there never
  // completes, and the socket would be held for good): close it.
  if (err.code === 'ECONNRESET' || !socket.writable || err.code?.startsWith('ERR_TLS_') === true || err.code?.startsWith('ERR_SSL_') === true) {
    socket.destroy();
    return 0;
  }
  // Bytes after a request still being answered (typically a body sent without Content-Length or
  // Transfer-Encoding, which HTTP says is not there, so it reads as a next request): a fault now
  // would reach the client as a second answer to one request. The reply goes out whole, and says
  // `Connection: close` when it can still say so, so that the client does not send on this
  // connection again; then it closes.
  const open = replying.get(socket);
  // A request timeout is about the request being read, which has no reply yet: it gets the fault.
  // A peer that stopped sending (EOF mid-body) will not finish its request: that reply never comes.
  if (open !== undefined && err.code !== 'ERR_HTTP_REQUEST_TIMEOUT' && socket.readable && !socket.readableEnded) {
    for (const res of Array.isArray(open) ? open : [open]) if (!res.headersSent) res.setHeader('Connection', 'close');
    afterReplies.set(socket, () => socket.destroySoon());
    return 0;
  }
  const fault = faultForClientError(err.code);
  writeRawFault(socket, fault, txnId);
  return fault.status;
}

/** Why a TLS handshake failed, as the handshake-failure counter's `reason` label. */
export type HandshakeFailure = 'timeout' | 'reset' | 'no_client_cert' | 'client_cert_rejected' | 'server_cert_rejected' | 'protocol' | 'other';

/**
 * The reason of a 'tlsClientError' (an error before the handshake was done).
 * `reset`: the peer closed the connection mid-handshake, which is how a Node
 * or Go client that does not trust our certificate leaves, and how a TLS 1.3
 * client whose certificate we refused ends up. OpenSSL's codes name the rest.
 */
export function handshakeFailure(err: Error & { code?: string }): HandshakeFailure {
  const code = err.code ?? '';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  if (code.includes('PEER_DID_NOT_RETURN_A_CERTIFICATE')) return 'no_client_cert';
  if (code.includes('CERTIFICATE_VERIFY_FAILED')) return 'client_cert_rejected';
  if (/ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED|DECRYPT_ERROR)/.test(code)) return 'server_cert_rejected';
  if (/HTTP_REQUEST|HTTPS_PROXY_REQUEST|WRONG_VERSION_NUMBER|UNSUPPORTED_PROTOCOL|VERSION_TOO_LOW|NO_SHARED_CIPHER|PACKET_LENGTH_TOO_LONG|RECORD_LENGTH_MISMATCH/.test(code)) return 'protocol';
  return 'other';
}

/**
 * On a TLS server: counts failed handshakes by reason and logs them at most
 * every 10 s (a scan must not become a log flood), so that a wrong CA or a
 * missing client certificate shows on the server's side. OpenSSL's messages
 * name no secret. A listener of its own: https still forwards the error to
 * 'clientError', which closes the socket.
 */
export function watchHandshakes(server: Server, log: Logger, count: (reason: HandshakeFailure) => void): void {
  if (!(server instanceof TlsServer)) return;
  const since: Partial<Record<HandshakeFailure, number>> = {};
  let loggedAt = 0;
  server.on('tlsClientError', (err: Error & { code?: string }, socket: Socket) => {
    const reason = handshakeFailure(err);
    count(reason);
    since[reason] = (since[reason] ?? 0) + 1;
    const now = Date.now();
    if (now - loggedAt < REFUSAL_LOG_EVERY_MS) return;
    loggedAt = now;
    log.warn({ failures: { ...since }, lastCode: err.code ?? null, lastError: err.message, remote: socket.remoteAddress ?? null }, 'TLS handshakes failed');
    for (const k of Object.keys(since) as HandshakeFailure[]) delete since[k];
  });
}
