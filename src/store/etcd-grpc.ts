import grpc from '@grpc/grpc-js';
import { TetherError } from '../lib/errors.js';
import { EtcdLogin } from './etcd-auth.js';
import { etcdError, unavailable } from './etcd-gateway.js';
import { afterDeadline, keepAliveCall, methodOf, unaryCall, watchCall } from './etcd-grpc-calls.js';
import { parseEndpoint, type EtcdTransport, type TransportOptions } from './etcd-transport.js';

/**
 * A client of etcd's native gRPC API (@grpc/grpc-js, the messages of
 * etcd-rpc.proto), with the JSON gateway's surface and rules (etcd-gateway.ts):
 * it costs etcd about half the CPU per request (bench/README.md, "etcd over gRPC").
 *
 * - One channel (one HTTP/2 connection) per endpoint. Endpoints are tried in
 *   order from the last one that answered. A call goes to an endpoint only
 *   once its channel is connected: a write moves on only when it never got
 *   that far (nothing was sent); a read moves on after any failure.
 * - Each call has a deadline of timeoutMs, waiting for the connection included,
 *   judged by our own timer after the I/O that arrived meanwhile (`afterDeadline`).
 * - Errors: the gateway's TetherError codes, from the gRPC status and etcd's
 *   message (`etcdError`); messages never carry request bodies or tokens.
 * - Auth: etcd's token travels as metadata `token` (EtcdLogin: login on first
 *   use, once more after etcd says it is invalid).
 * - https:// endpoints get TLS credentials from the same TlsOptions.
 */
const { READY, TRANSIENT_FAILURE, SHUTDOWN } = grpc.connectivityState;

const CHANNEL_OPTIONS = {
  // etcd answers a large range with one message (its own limit is 2 GiB); grpc-js would refuse past 4 MiB.
  'grpc.max_receive_message_length': -1,
  // A restarted member is dialled again within a second, as the gateway's pool would on its next request.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
};

/**
 * HTTP/2 pings while a call or a watch is open, so a member that vanished without a FIN (a host
 * down, a dropped NAT entry) is noticed and a watch moves on. Every 10 s: etcd answers pings more
 * often than its --grpc-keepalive-min-time (5 s by default) with GOAWAY ENHANCE_YOUR_CALM. The ack
 * is judged by grpc-js's timer: at least 5 s, so a busy event loop does not drop a healthy connection.
 */
function keepalive(timeoutMs: number): Record<string, number> {
  return { 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': Math.max(timeoutMs, 5_000) };
}

type Headers = Record<string, string>;
const NO_HEADERS: Headers = {};
/** etcd's "require leader": a member cut off from the quorum refuses (or cancels a stream) instead of answering alone. */
const LEADER: Headers = { hasleader: 'true' };

export class EtcdGrpc implements EtcdTransport {
  private readonly clients: grpc.Client[];
  private current = 0;
  private readonly login: EtcdLogin | undefined;

  constructor(private readonly opts: TransportOptions) {
    if (opts.endpoints.length === 0) throw new TetherError('store.invalid', 'no etcd endpoints given');
    const urls = opts.endpoints.map(parseEndpoint);
    this.login = opts.auth && new EtcdLogin(opts.auth, (body) => this.callOnce('/v3/auth/authenticate', body, true, NO_HEADERS));
    this.clients = urls.map((url) => {
      const tls = opts.tls ?? {};
      const secure = url.protocol === 'https:';
      const creds = secure ? grpc.credentials.createSsl(buf(tls.ca), buf(tls.key), buf(tls.cert)) : grpc.credentials.createInsecure();
      const named = secure && tls.servername !== undefined ? { 'grpc.ssl_target_name_override': tls.servername, 'grpc.default_authority': tls.servername } : {};
      return new grpc.Client(url.host, creds, { ...CHANNEL_OPTIONS, ...keepalive(opts.timeoutMs), ...named });
    });
  }

  get endpoints(): readonly string[] {
    return this.opts.endpoints;
  }

  call<T>(path: string, body: unknown, read: boolean): Promise<T> {
    return this.login === undefined ? this.callOnce<T>(path, body, read, NO_HEADERS) : this.login.withToken(NO_HEADERS, (h) => this.callOnce<T>(path, body, read, h));
  }

  private async callOnce<T>(path: string, body: unknown, read: boolean, headers: Headers): Promise<T> {
    const m = method(path);
    let last: unknown;
    const n = this.clients.length;
    for (let tried = 0; tried < n; tried++) {
      const i = (this.current + tried) % n;
      const deadline = Date.now() + this.opts.timeoutMs;
      // Not connected: nothing was sent, so a write may go elsewhere too. The last endpoint is called
      // anyway: grpc-js then fails at once, saying why it could not connect (refused, a TLS error...).
      if (!(await this.connected(i, deadline)) && tried < n - 1) {
        last = notConnected(this.opts.endpoints[i]!);
        continue;
      }
      try {
        const md = metadata(headers);
        const reply = path === '/v3/lease/keepalive' ? await keepAliveCall<T>(this.clients[i]!, m, body, md, deadline) : await unaryCall<T>(this.clients[i]!, m, body, md, deadline);
        this.current = i;
        return reply;
      } catch (err) {
        const e = this.mapped(i, err);
        // Another member may have a leader (or be the one that is up); a write may have been applied.
        if (read && e.code === 'store.unavailable') {
          last = e;
          continue;
        }
        throw e;
      }
    }
    if (last instanceof TetherError) throw last;
    throw unavailable(this.opts.endpoints.join(','), last);
  }

  /**
   * Whether endpoint `i`'s channel is connected, waiting while it connects (until `deadline`, judged
   * after the I/O of a busy loop's turn as calls are: `afterDeadline`); false at once after a failed connect.
   */
  private async connected(i: number, deadline: number): Promise<boolean> {
    const channel = this.clients[i]!.getChannel();
    for (;;) {
      const state = channel.getConnectivityState(true);
      if (state === READY) return true;
      if (state === SHUTDOWN || state === TRANSIENT_FAILURE || Date.now() >= deadline) return false;
      const changed = await new Promise<boolean>((resolve) => {
        let judged = false;
        const stop = afterDeadline(deadline, () => {
          judged = true;
          resolve(false);
        });
        // grpc-js's deadline only ends its watcher (our verdict may come later: afterDeadline); a finite
        // one, renewed in short slices meanwhile, so a black-holed member does not collect a watcher per call.
        const watch = (until: number): void =>
          channel.watchConnectivityState(state, until, (err) => {
            if (judged) return;
            if (err && channel.getConnectivityState(false) === state) return watch(Date.now() + WATCH_SLICE_MS);
            stop();
            resolve(true);
          });
        watch(Math.max(deadline, Date.now() + WATCH_SLICE_MS));
      });
      if (!changed) return channel.getConnectivityState(false) === READY;
    }
  }

  async stream(path: string, body: unknown, onMessage: (msg: unknown) => void, signal: AbortSignal, onOpen: (endpoint: number) => void = () => {}): Promise<void> {
    const token = this.login?.current();
    try {
      const headers = token === undefined ? LEADER : { ...LEADER, authorization: await token };
      await this.streamOnce(path, body, onMessage, signal, onOpen, headers);
    } finally {
      // As the gateway: a stream reopened after a break, maybe hours later, logs in afresh.
      if (token !== undefined && !signal.aborted) this.login?.forget(token);
    }
  }

  private async streamOnce(path: string, body: unknown, onMessage: (msg: unknown) => void, signal: AbortSignal, onOpen: (endpoint: number) => void, headers: Headers): Promise<void> {
    const m = method(path);
    const n = this.clients.length;
    for (let tried = 0; tried < n; tried++) {
      const i = (this.current + tried) % n;
      const up = await this.connected(i, Date.now() + this.opts.timeoutMs);
      if (signal.aborted) return;
      if (!up && tried < n - 1) continue;
      // The last endpoint, not connected, is asked anyway: grpc-js fails the stream at once, saying why.
      if (up) {
        this.current = i;
        onOpen(i);
      }
      // No deadline: a watch stays open. With "require leader", a member cut off from the quorum
      // cancels it instead of keeping it silently open, so the store moves on.
      try {
        await watchCall(this.clients[i]!, m, body, metadata(headers), onMessage, signal);
        return;
      } catch (err) {
        if (err instanceof TetherError) throw err; // from onMessage
        throw this.mapped(i, err);
      }
    }
    throw notConnected(this.opts.endpoints.join(','));
  }

  probe(i: number, body: unknown): Promise<void> {
    const run = async (headers: Headers): Promise<void> => {
      try {
        await unaryCall(this.clients[i]!, method('/v3/kv/range'), body, metadata(headers), Date.now() + this.opts.timeoutMs);
      } catch (err) {
        throw this.mapped(i, err);
      }
    };
    return this.login === undefined ? run(LEADER) : this.login.withToken(LEADER, run);
  }

  avoid(i: number): void {
    if (this.current === i) this.current = (i + 1) % this.clients.length;
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.close();
  }

  /** A gRPC failure as the gateway reports it: etcd's own errors by their message, the rest as `store.unavailable`. */
  private mapped(i: number, err: unknown): TetherError {
    if (err instanceof TetherError) return err;
    const e = err as { code?: number; details?: string };
    const details = e.details ?? (err instanceof Error ? err.message : String(err));
    // etcd's own refusals say "etcdserver: ..." (or "mvcc: ...", "auth: ..."). Anything else is the
    // connection's, whatever its status (RST_STREAM INTERNAL, UNKNOWN, a proxy's RESOURCE_EXHAUSTED):
    // store.unavailable, so a read moves on to the next member, as over the gateway.
    if (ETCD_OWN.test(details)) return etcdError({ code: e.code, message: details }, 0);
    return new TetherError('store.unavailable', `etcd at ${this.opts.endpoints[i]} did not answer (${details})`, { cause: err });
  }
}

/** How long a connectivity watcher outlives the wait that set it, at most. */
const WATCH_SLICE_MS = 100;

/** The prefixes of etcd's own error messages (its rpctypes, mvcc and auth packages). */
const ETCD_OWN = /etcdserver:|mvcc:|auth:/;

function method(path: string): ReturnType<typeof methodOf> & object {
  const m = methodOf(path);
  if (m === undefined) throw new TetherError('store.failed', `etcd over gRPC: no method for ${path}`);
  return m;
}

/** The gateway's headers as gRPC metadata: etcd reads the auth token from `token`. */
function metadata(headers: Headers): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k === 'authorization' ? 'token' : k, v);
  return md;
}

function notConnected(where: string): TetherError {
  return new TetherError('store.unavailable', `etcd at ${where} did not answer (not connected)`);
}

function buf(v: Buffer | string | undefined): Buffer | null {
  return v === undefined ? null : Buffer.isBuffer(v) ? v : Buffer.from(v);
}
