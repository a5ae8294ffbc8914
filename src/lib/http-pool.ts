import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';

/**
 * Keep-alive HTTP requests on Node's own client (node:http): the one HTTP
 * pool of the tree, for the registry and queues clients, the HTTP actions
 * and the etcd store's JSON gateway.
 *
 * Why not undici: loading it and compiling its WebAssembly HTTP parser cost
 * a process several times the memory of node:http's client, whose parser is
 * already in the node binary. undici is a little faster per request in a hot
 * loop, which is nothing at an agent's few requests a second, while the
 * agent's memory budget is tight. Figures, and what it costs the registry's
 * etcd store: bench/README.md, "etcd client: the JSON gateway".
 */

export interface HttpRequest {
  /** Path and query on the pool's origin, e.g. `/v1.0/1234/services?limit=10`. */
  path: string;
  method: string;
  headers?: Record<string, string> | undefined;
  body?: string | null | undefined;
  /** Aborts the request (and its socket) with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** No response head by then (connect included): the request fails with POOL_HEADERS_TIMEOUT. */
  headersTimeoutMs?: number | undefined;
  /**
   * Send it again once when a kept-alive connection turns out closed (default
   * true). False for a request that must not be applied twice: the server may
   * have read it before the connection broke.
   */
  retryOnReset?: boolean | undefined;
}

export interface HttpResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  /** The body stream: read it (`readText`, `drain`) or destroy it. */
  body: IncomingMessage;
}

/** What HttpRegistry needs from a connection pool; `HttpPool` is the one it creates itself. */
export interface HttpDispatcher {
  request(req: HttpRequest): Promise<HttpResponse>;
  /** Lets requests in flight finish, then closes the connections. Idempotent: every call resolves then. */
  close(): Promise<void>;
  /** Closes the connections now; requests in flight fail. */
  destroy(): Promise<void>;
}

/** Client TLS material for an https origin (PEM). Ignored for an http origin. */
export interface TlsOptions {
  /** CA bundle that verifies the server (default: Node's bundled roots). */
  ca?: Buffer | string | undefined;
  /** Client certificate, for a server that asks for one (with `key`). */
  cert?: Buffer | string | undefined;
  key?: Buffer | string | undefined;
  /** The name the server's certificate must carry, and the SNI sent (default: the URL's host). */
  servername?: string | undefined;
}

export interface HttpPoolOptions extends TlsOptions {
  /** Connections at most, in use or idle (default: no limit; a request past it waits for one). */
  maxSockets?: number | undefined;
  /** How long an idle keep-alive connection is kept (default: until the server closes it). */
  idleTimeoutMs?: number | undefined;
  /** A connection not established by then fails the request with POOL_CONNECT_TIMEOUT (default: the OS's). */
  connectTimeoutMs?: number | undefined;
}

/**
 * A keep-alive connection pool of node:http (https with `secure`): HttpPool's,
 * and the HTTP probes' (one per TLS mode, for every origin they probe).
 * Sockets are reused last-in first-out (Node 20's default), so surplus ones
 * go idle and expire. The `timeout` given to Node closes a socket only while
 * it is idle; on one in use it only emits 'timeout', which nothing here heeds:
 * callers own their requests' deadlines.
 */
export function keepAliveAgent(secure: boolean, opts: Omit<HttpPoolOptions, 'connectTimeoutMs'> & { rejectUnauthorized?: boolean } = {}): http.Agent {
  const { maxSockets, idleTimeoutMs, ...tls } = opts;
  const agentOpts = { keepAlive: true, ...(maxSockets ? { maxSockets } : {}), ...(idleTimeoutMs ? { timeout: idleTimeoutMs } : {}) };
  return secure ? new https.Agent({ ...agentOpts, ...definedOnly(tls) }) : new http.Agent(agentOpts);
}

/** Drops undefined fields: an explicit `servername: undefined` would otherwise stop Node from sending SNI. */
function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The host to connect to for `url`: URL keeps an IPv6 literal's brackets, the socket layer wants it bare. */
export function connectHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** The code of the error a request gets after `close()`/`destroy()`. */
export const POOL_CLOSED = 'TETHER_POOL_CLOSED';
/** The connection was not established within `connectTimeoutMs`: the request surely never reached the server. */
export const POOL_CONNECT_TIMEOUT = 'TETHER_CONNECT_TIMEOUT';
/** No response head within `headersTimeoutMs`. */
export const POOL_HEADERS_TIMEOUT = 'TETHER_HEADERS_TIMEOUT';
/** A body not read to its end within `readText`'s timeout. */
export const POOL_BODY_TIMEOUT = 'TETHER_BODY_TIMEOUT';

/**
 * Keep-alive connections to one origin. Requests never queue behind each
 * other: like undici's Pool, a busy pool opens another connection.
 *
 * A request sent on a kept-alive socket that the server closed meanwhile
 * (its idle timeout and our send crossed) fails with ECONNRESET before the
 * server saw it; that request is sent once more on a new connection, as
 * Node's documentation advises (`request.reusedSocket`).
 */
export class HttpPool implements HttpDispatcher {
  private agent: http.Agent;
  /** Agents replaced by updateTls, still carrying requests: each is destroyed once its last one is done. */
  private readonly retired = new Set<http.Agent>();
  /** Requests in flight (until their body is done) per agent: what a retired agent waits for. */
  private readonly users = new Map<http.Agent, number>();
  private readonly opts: HttpPoolOptions;
  private readonly secure: boolean;
  private readonly request1: typeof http.request;
  private readonly host: string;
  private readonly port: number;
  private readonly connectTimeoutMs: number | undefined;
  private inFlight = 0;
  private idle: (() => void) | null = null;
  private closing: Promise<void> | null = null;
  private closed = false;

  constructor(origin: string, opts: HttpPoolOptions = {}) {
    const url = new URL(origin);
    const secure = url.protocol === 'https:';
    this.secure = secure;
    this.opts = opts;
    this.host = connectHost(url);
    this.port = Number(url.port || (secure ? 443 : 80));
    this.agent = keepAliveAgent(secure, opts);
    this.request1 = secure ? https.request : http.request;
    this.connectTimeoutMs = opts.connectTimeoutMs;
  }

  /** Resolves at the response head; the pool counts the request in flight until its body is done. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    if (this.closed) throw closedError();
    req.signal?.throwIfAborted();
    this.inFlight++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      if (--this.inFlight === 0) this.idle?.();
    };
    try {
      const res = await this.send(req, req.retryOnReset !== false);
      res.body.once('close', release);
      return res;
    } catch (err) {
      release();
      throw err;
    }
  }

  /**
   * Refuses new requests, waits for those in flight (their bodies read or
   * destroyed), then closes the connections. Every call gets the same
   * promise, like undici's `close()`; a `destroy()` meanwhile ends the wait.
   */
  close(): Promise<void> {
    this.closed = true;
    this.closing ??= (this.inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.idle = resolve))).then(() => this.destroyAgents());
    return this.closing;
  }

  /**
   * New connections use this TLS material from now on (a renewed client
   * certificate, a new CA bundle), for an https origin; a no-op for http.
   * Requests in flight finish on their connections; the old agent (and its
   * kept-alive connections) is destroyed once the last of them is done, so
   * reloads (every SIGHUP) never pile agents and sockets up.
   */
  updateTls(tls: TlsOptions): void {
    if (!this.secure || this.closed) return;
    const old = this.agent;
    this.agent = keepAliveAgent(true, { ...this.opts, ...tls });
    if (this.users.has(old)) this.retired.add(old);
    else old.destroy();
  }

  private use(agent: http.Agent): () => void {
    this.users.set(agent, (this.users.get(agent) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (this.users.get(agent) ?? 1) - 1;
      if (left > 0) return void this.users.set(agent, left);
      this.users.delete(agent);
      if (this.retired.delete(agent)) agent.destroy();
    };
  }

  private destroyAgents(): void {
    this.agent.destroy();
    for (const a of this.retired) a.destroy();
    this.retired.clear();
  }

  /** Closes every connection now: requests in flight fail, a pending `close()` resolves. */
  async destroy(): Promise<void> {
    this.closed = true;
    this.destroyAgents();
    this.idle?.();
  }

  /** One try; `retry`: a reset on a reused socket is sent again once. Resolves at the response head. */
  private send(r: HttpRequest, retry: boolean): Promise<HttpResponse> {
    return new Promise<HttpResponse>((resolve, reject) => {
      const headers: Record<string, string> = { ...r.headers };
      if (r.body !== undefined && r.body !== null) headers['content-length'] = String(Buffer.byteLength(r.body));
      const agent = this.agent;
      const unuse = this.use(agent);
      const req = this.request1({ agent, host: this.host, port: this.port, path: r.path, method: r.method, headers });
      const onAbort = (): void => void req.destroy(r.signal?.reason instanceof Error ? r.signal.reason : new Error(String(r.signal?.reason)));
      r.signal?.addEventListener('abort', onAbort, { once: true });
      const timers = this.watchTimeouts(req, r.headersTimeoutMs);
      const done = (): void => {
        r.signal?.removeEventListener('abort', onAbort);
        timers.clear();
      };
      let responded = false;
      req.once('response', (res) => {
        responded = true;
        timers.clear();
        // The body belongs to the caller now; an abort still ends it (the caller's read rejects).
        res.once('close', () => {
          r.signal?.removeEventListener('abort', onAbort);
          // After Node's own 'close' handling: a keep-alive socket is back in the agent's free list by now.
          setImmediate(unuse);
        });
        resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (responded) return; // the body stream carries it to whoever reads it
        done();
        unuse();
        if (retry && req.reusedSocket && err.code === 'ECONNRESET' && !this.closed && r.signal?.aborted !== true) {
          this.send(r, false).then(resolve, reject);
        } else if (this.closed && !r.signal?.aborted) {
          reject(closedError(err));
        } else reject(err);
      });
      req.end(r.body ?? undefined);
    });
  }

  /**
   * The connect and response-head deadlines of one request; `clear()` when it has its head or failed.
   * A deadline is judged one turn of the event loop after its timer (setImmediate): when the loop was
   * busy past it, timers run before the I/O that arrived meanwhile, and a connection made or a head
   * received in time would count as late (a registry answering 10,000 long-polls on a loaded machine
   * saw a loopback etcd "not answer" its connect and failed them all with 503).
   */
  private watchTimeouts(req: http.ClientRequest, headersMs: number | undefined): { clear: () => void } {
    const fail = (code: string, ms: number, what: string) => () =>
      void req.destroy(Object.assign(new Error(`${what} within ${ms}ms`), { code }));
    // Still waiting for a connection (none free, or connecting) when the head is due: the request was
    // surely not sent, which is the connect timeout's code (a caller may try another server).
    const onHeadTimeout = (ms: number) => (): void => {
      const sent = req.socket !== null && !req.socket.connecting;
      fail(sent ? POOL_HEADERS_TIMEOUT : POOL_CONNECT_TIMEOUT, ms, sent ? 'no response' : 'not connected')();
    };
    let headVerdict: NodeJS.Immediate | undefined;
    let connectVerdict: NodeJS.Immediate | undefined;
    const head = headersMs === undefined ? undefined : setTimeout(() => (headVerdict = setImmediate(onHeadTimeout(headersMs))), headersMs);
    let connect: NodeJS.Timeout | undefined;
    const connectMs = this.connectTimeoutMs;
    if (connectMs !== undefined) {
      req.once('socket', (socket) => {
        if (!socket.connecting) return; // a kept-alive connection
        connect = setTimeout(() => (connectVerdict = setImmediate(fail(POOL_CONNECT_TIMEOUT, connectMs, 'not connected'))), connectMs);
        socket.once('connect', () => {
          clearTimeout(connect);
          clearImmediate(connectVerdict);
        });
      });
    }
    return {
      clear: () => {
        clearTimeout(head);
        clearImmediate(headVerdict);
        clearTimeout(connect);
        clearImmediate(connectVerdict);
      },
    };
  }
}

function closedError(cause?: unknown): Error {
  return Object.assign(new Error('the connection pool is closed', cause === undefined ? {} : { cause }), { code: POOL_CLOSED });
}

/**
 * The whole body as UTF-8 text. Rejects if the response is cut short, or
 * with POOL_BODY_TIMEOUT when it is not all there within `timeoutMs` (the
 * body, and so its connection, is destroyed then).
 */
export function readText(body: IncomingMessage, timeoutMs?: number): Promise<string> {
  // Listeners rather than `for await`: the async iterator costs measurably more CPU per etcd call.
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => body.destroy(Object.assign(new Error(`response body not complete within ${timeoutMs}ms`), { code: POOL_BODY_TIMEOUT })), timeoutMs);
    const settle = (err: Error | null): void => {
      clearTimeout(timer);
      body.removeListener('data', onData);
      if (err !== null) reject(err);
      else resolve(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    };
    const onData = (chunk: Buffer): void => void chunks.push(chunk);
    body.on('data', onData);
    body.once('end', () => settle(null));
    // A body cut short: 'aborted' (Node 20) or 'error', then 'close' without 'end'.
    body.once('error', (err) => settle(err));
    body.once('close', () => {
      if (!body.complete) settle(new Error('response body cut short'));
    });
  });
}

/** The first `limit` bytes of a body as text; the rest is not read (the connection is closed). */
export async function readHead(body: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size >= limit) break; // leaving the loop destroys the stream
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Reads and drops up to `limit` bytes so the connection can be reused; a
 * longer body is cut (its connection closed). Never rejects.
 */
export async function drain(body: IncomingMessage, limit: number): Promise<void> {
  let size = 0;
  try {
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > limit) break;
    }
  } catch {
    // A body cut short only costs its connection.
  }
}
