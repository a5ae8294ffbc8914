import { TetherError } from '../lib/errors.js';
import { EtcdLogin, withAuthorization } from './etcd-auth.js';

export type { EtcdAuth } from './etcd-auth.js';
import { HttpPool, POOL_CONNECT_TIMEOUT, readText, type HttpResponse } from '../lib/http-pool.js';
import { parseEndpoint, type EtcdTransport, type TransportOptions } from './etcd-transport.js';

/**
 * A small client of etcd's v3 JSON gateway (the grpc-gateway every etcd
 * server runs on its client URL: POST /v3/kv/range, /v3/kv/txn, /v3/lease/...,
 * /v3/watch), over the tree's one keep-alive HTTP pool (src/lib/http-pool.ts):
 * `--etcd-transport gateway`. The default is etcd's gRPC API (etcd-grpc.ts),
 * which costs etcd about half the CPU per request (bench/README.md, "etcd
 * over gRPC"); the gateway stays for proxies that speak only HTTP/1.1 JSON.
 *
 * Endpoints are tried in order, starting from the last one that answered;
 * a request moves on to the next endpoint only when it surely did not reach
 * etcd (connection refused) or when it is a read.
 *
 * Errors (TetherError codes): `store.unavailable` when no endpoint answers
 * in time or etcd has no quorum/leader; `store.lease_not_found`,
 * `store.lease_exists`, `store.compacted` for those etcd errors;
 * `store.auth_failed` when etcd refuses the user or password;
 * `store.failed` for anything else. Messages never carry request bodies
 * (so never the password).
 *
 * With `auth`, every request carries a token in `Authorization` (see
 * etcd-auth.ts: login on first use, again when etcd says it expired).
 */
export type GatewayOptions = TransportOptions;

/** gRPC status codes etcd answers with. */
export const GRPC = { DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, FAILED_PRECONDITION: 9, OUT_OF_RANGE: 11, UNAVAILABLE: 14 } as const;

/** Transport failures where the request surely never reached the server. */
const NOT_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', POOL_CONNECT_TIMEOUT, 'ENOTFOUND', 'EAI_AGAIN']);

const JSON_HEADERS = { 'content-type': 'application/json' };
/** etcd's "require leader": a member cut off from the quorum refuses (or cancels a stream) instead of answering alone. */
const LEADER_HEADERS = { 'content-type': 'application/json', 'grpc-metadata-hasleader': 'true' };

export interface EtcdErrorBody {
  error?: string;
  message?: string;
  code?: number;
}

export function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

export function unb64(s: string | undefined): string {
  return s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8');
}

/** etcd's range end for "every key starting with `prefix`": the prefix with its last byte incremented. */
export function etcdPrefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, 'utf8');
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      const end = Buffer.from(bytes.subarray(0, i + 1));
      end[i] = end[i]! + 1;
      return end.toString('base64');
    }
  }
  return b64('\0'); // all 0xff: every key from the start (etcd's convention)
}

export class EtcdGateway implements EtcdTransport {
  private readonly pools: HttpPool[];
  private current = 0;
  private readonly login: EtcdLogin | undefined;

  constructor(private readonly opts: GatewayOptions) {
    if (opts.endpoints.length === 0) throw new TetherError('store.invalid', 'no etcd endpoints given');
    this.login = opts.auth && new EtcdLogin(opts.auth, (body) => this.callOnce('/v3/auth/authenticate', body, true, JSON_HEADERS));
    // A connect timeout too: the OS's (minutes) would outlast timeoutMs for a member that drops SYNs.
    this.pools = opts.endpoints.map(
      (e) => new HttpPool(parseEndpoint(e).origin, { maxSockets: 64, idleTimeoutMs: 30_000, connectTimeoutMs: opts.timeoutMs, ...opts.tls }),
    );
  }

  get endpoints(): readonly string[] {
    return this.opts.endpoints;
  }

  /**
   * POSTs `body` to `path` and returns the parsed reply. `read` marks a call
   * that may be repeated on another endpoint after any transport failure.
   */
  call<T>(path: string, body: unknown, read: boolean): Promise<T> {
    return this.withToken(JSON_HEADERS, (headers) => this.callOnce<T>(path, body, read, headers));
  }

  private withToken<T>(base: Record<string, string>, fn: (headers: Record<string, string>) => Promise<T>): Promise<T> {
    return this.login === undefined ? fn(base) : this.login.withToken(base, fn);
  }

  private async callOnce<T>(path: string, body: unknown, read: boolean, headers: Record<string, string>): Promise<T> {
    const payload = JSON.stringify(body);
    let last: unknown;
    for (let tried = 0; tried < this.pools.length; tried++) {
      const i = (this.current + tried) % this.pools.length;
      let res: HttpResponse;
      try {
        res = await this.send(i, path, payload, headers, read);
      } catch (err) {
        last = err;
        if (read || NOT_SENT.has(errCode(err))) continue;
        throw unavailable(this.opts.endpoints[i]!, err);
      }
      let reply: unknown;
      try {
        reply = JSON.parse(await readText(res.body, this.opts.timeoutMs));
      } catch (err) {
        last = err;
        if (read) continue;
        throw unavailable(this.opts.endpoints[i]!, err);
      }
      if (res.statusCode === 200) {
        this.current = i;
        return reply as T;
      }
      const e = etcdError(reply as EtcdErrorBody, res.statusCode);
      // Another member may have a leader (or be the one that is up).
      if (e.code === 'store.unavailable' && read) {
        last = e;
        continue;
      }
      throw e;
    }
    if (last instanceof TetherError) throw last;
    throw unavailable(this.opts.endpoints.join(','), last);
  }

  /**
   * One POST to endpoint `i`; resolves at the reply's head (within timeoutMs,
   * connect included). Only a read is sent again after a broken kept-alive
   * connection: etcd may have applied a write it never answered.
   */
  private send(i: number, path: string, payload: string, headers: Record<string, string>, read: boolean, signal?: AbortSignal): Promise<HttpResponse> {
    return this.pools[i]!.request({ path, method: 'POST', body: payload, headers, headersTimeoutMs: this.opts.timeoutMs, retryOnReset: read, signal });
  }

  /**
   * Opens a streaming call (watch) on the current endpoint, moving on to the
   * next one when it cannot connect. Calls `onMessage` for each JSON message
   * of the stream; resolves when the stream ends, rejects when it breaks.
   */
  async stream(
    path: string,
    body: unknown,
    onMessage: (msg: unknown) => void,
    signal: AbortSignal,
    onOpen: (endpoint: number) => void = () => {},
  ): Promise<void> {
    const token = this.login?.current();
    try {
      await this.streamOnce(path, body, onMessage, signal, onOpen, token === undefined ? LEADER_HEADERS : await withAuthorization(LEADER_HEADERS, token));
    } finally {
      // A stream reopens after a break, maybe hours later: its token may have expired by then,
      // and a refused watch does not always say why, so the next one logs in afresh.
      if (token !== undefined && !signal.aborted) this.login?.forget(token);
    }
  }

  private async streamOnce(
    path: string,
    body: unknown,
    onMessage: (msg: unknown) => void,
    signal: AbortSignal,
    onOpen: (endpoint: number) => void,
    headers: Record<string, string>,
  ): Promise<void> {
    const payload = JSON.stringify(body);
    let res: HttpResponse | undefined;
    let last: unknown;
    for (let tried = 0; tried < this.pools.length && res === undefined; tried++) {
      const i = (this.current + tried) % this.pools.length;
      try {
        // The body has no deadline: a watch stream stays open. With "require leader", a member cut
        // off from the quorum cancels it instead of keeping it silently open, so it moves on.
        res = await this.send(i, path, payload, headers, true, signal);
        this.current = i;
        onOpen(i);
      } catch (err) {
        last = err;
        if (signal.aborted) return;
      }
    }
    if (res === undefined) throw unavailable(this.opts.endpoints.join(','), last);
    if (res.statusCode !== 200) {
      const reply = (await readText(res.body, this.opts.timeoutMs).then(JSON.parse).catch(() => ({}))) as EtcdErrorBody;
      throw etcdError(reply, res.statusCode);
    }
    let buffered = '';
    try {
      for await (const chunk of res.body) {
        buffered += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line !== '') onMessage(JSON.parse(line));
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof TetherError) throw err; // from onMessage
      throw unavailable(this.opts.endpoints[this.current]!, err);
    }
    const line = buffered.trim();
    if (line !== '') onMessage(JSON.parse(line));
  }

  /**
   * One linearizable read on endpoint `i` only, refused at once by a member
   * without a leader: whether the member a stream is open on still serves.
   * A hung or partitioned member keeps the stream open and silent.
   */
  probe(i: number, body: unknown): Promise<void> {
    return this.withToken(LEADER_HEADERS, (headers) => this.probeOnce(i, body, headers));
  }

  private async probeOnce(i: number, body: unknown, headers: Record<string, string>): Promise<void> {
    let reply: unknown;
    let status: number;
    try {
      const res = await this.send(i, '/v3/kv/range', JSON.stringify(body), headers, true);
      status = res.statusCode;
      reply = JSON.parse(await readText(res.body, this.opts.timeoutMs));
    } catch (err) {
      throw unavailable(this.opts.endpoints[i]!, err);
    }
    if (status !== 200) throw etcdError(reply as EtcdErrorBody, status);
  }

  /** Moves the next requests (and stream opens) off endpoint `i`, which stopped serving. */
  avoid(i: number): void {
    if (this.current === i) this.current = (i + 1) % this.pools.length;
  }

  async close(): Promise<void> {
    await Promise.all(this.pools.map((p) => p.destroy()));
  }
}

function errCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  if (typeof e?.code === 'string') return e.code;
  return typeof e?.cause?.code === 'string' ? e.cause.code : '';
}

export function unavailable(where: string, cause: unknown): TetherError {
  const why = errCode(cause) || (cause instanceof Error ? cause.message : String(cause));
  return new TetherError('store.unavailable', `etcd at ${where} did not answer (${why})`, { cause });
}

export function etcdError(body: EtcdErrorBody, status: number): TetherError {
  const message = body.message ?? body.error ?? `HTTP ${status}`;
  const text = `etcd: ${message}`;
  if (body.code === GRPC.NOT_FOUND && /lease not found/.test(message)) return new TetherError('store.lease_not_found', text);
  if (body.code === GRPC.FAILED_PRECONDITION && /lease already exists/.test(message)) return new TetherError('store.lease_exists', text);
  if (body.code === GRPC.OUT_OF_RANGE && /compacted/.test(message)) return new TetherError('store.compacted', text);
  // --quota-backend-bytes reached (the NOSPACE alarm): writes fail until an operator frees space and disarms it.
  if (/database space exceeded/.test(message)) return new TetherError('store.nospace', text);
  if (/invalid auth token/.test(message)) return new TetherError('store.auth_expired', text);
  if (/authentication failed/.test(message)) return new TetherError('store.auth_failed', `${text} (user or password wrong)`);
  if (body.code === GRPC.UNAVAILABLE || body.code === GRPC.DEADLINE_EXCEEDED || status === 503 || /no leader|timed out|leader changed/.test(message)) {
    return new TetherError('store.unavailable', text);
  }
  return new TetherError('store.failed', text);
}
