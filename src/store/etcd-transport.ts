import { TetherError } from '../lib/errors.js';
import type { TlsOptions } from '../lib/http-pool.js';
import type { EtcdAuth } from './etcd-auth.js';

/**
 * How the etcd store reaches etcd: its native gRPC API (etcd-grpc.ts, the
 * default: it costs etcd half the CPU per request of the JSON gateway, see
 * bench/README.md "etcd over gRPC") or the JSON gateway every member serves
 * on the same URL (etcd-gateway.ts). Both take and give messages in the
 * gateway's JSON shape (int64 as strings, bytes base64, enums by name,
 * zero values left out), so the store is written once.
 */
export type EtcdTransportKind = 'grpc' | 'gateway';
export const ETCD_TRANSPORTS: readonly EtcdTransportKind[] = ['grpc', 'gateway'];
export const DEFAULT_ETCD_TRANSPORT: EtcdTransportKind = 'grpc';

export interface TransportOptions {
  endpoints: readonly string[];
  /** Per-request limit, connecting included (ms). */
  timeoutMs: number;
  /** For https:// endpoints: the CA that signed etcd's certificate, a client certificate and key (--client-cert-auth). */
  tls?: TlsOptions | undefined;
  /** etcd's user and password (etcd auth enabled). */
  auth?: EtcdAuth | undefined;
}

export interface EtcdTransport {
  readonly endpoints: readonly string[];
  /**
   * One request (`path` is the gateway's: /v3/kv/range, /v3/kv/txn, /v3/lease/grant, ...); resolves
   * with etcd's reply. `read` marks a call that may be repeated on another endpoint after any failure;
   * a write moves on only when it surely was not sent.
   */
  call<T>(path: string, body: unknown, read: boolean): Promise<T>;
  /**
   * Opens a watch stream on the current endpoint (moving on when it cannot connect), with "require
   * leader"; `onMessage` gets each message as `{result: WatchResponse}`. Resolves when the stream
   * ends or `signal` aborts, rejects when it breaks.
   */
  stream(path: string, body: unknown, onMessage: (msg: unknown) => void, signal: AbortSignal, onOpen?: (endpoint: number) => void): Promise<void>;
  /** One linearizable read on endpoint `i` only, refused at once by a member without a leader. */
  probe(i: number, body: unknown): Promise<void>;
  /** Moves the next requests (and stream opens) off endpoint `i`, which stopped serving. */
  avoid(i: number): void;
  /** Closes every connection; nothing of the transport keeps the process alive after it. */
  close(): Promise<void>;
}

/** The transport `kind` over `opts`; grpc-js is loaded only here, when asked for (the agent never is). */
export async function openTransport(kind: EtcdTransportKind, opts: TransportOptions): Promise<EtcdTransport> {
  if (kind === 'gateway') {
    const { EtcdGateway } = await import('./etcd-gateway.js');
    return new EtcdGateway(opts);
  }
  if (kind !== 'grpc') throw new TetherError('store.invalid', `etcd transport must be grpc or gateway, got ${JSON.stringify(kind)}`);
  const { EtcdGrpc } = await import('./etcd-grpc.js');
  return new EtcdGrpc(opts);
}

/** An endpoint checked as etcd's client URL: http(s), no user:password (it would be dropped, yet logged). */
export function parseEndpoint(e: string): URL {
  let url: URL;
  try {
    url = new URL(e);
  } catch {
    throw new TetherError('store.invalid', `etcd endpoint ${JSON.stringify(e)} is not a URL (e.g. http://127.0.0.1:2379)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TetherError('store.invalid', `etcd endpoint ${url.origin} must be http:// or https://`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new TetherError('store.invalid', `etcd endpoint ${url.origin} carries user:password, which is not supported`);
  }
  return url;
}
