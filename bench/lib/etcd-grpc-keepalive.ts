import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { TetherError } from '../../src/lib/errors.js';
import type { Step } from './load-worker.js';

/**
 * etcd's own lease keep-alives over its native gRPC API, the comparator for a
 * registry that reaches etcd over gRPC. Runs inside a load worker (see
 * load-worker.ts), so the keep-alives get the same threads, lanes and in-flight
 * count as the registry's heartbeats and their CPU is counted the same way.
 *
 * One grpc-js channel per worker (as one etcd client has one connection).
 * Streams: `per-call` keeps a free list of LeaseKeepAlive streams, one taken
 * per keep-alive, so N in flight use N streams (as the gateway arm uses N
 * connections, and etcd serves streams in parallel); `shared` sends every
 * keep-alive on one stream (clientv3's way), matched back by lease ID, which
 * etcd answers one request at a time.
 */

export interface EtcdGrpcChain {
  ID: string;
  /** host:port of etcd's client URL; every chain of a run has the same. */
  target: string;
  streams: 'per-call' | 'shared';
}

interface KeepAliveReply {
  ID?: string;
  TTL?: string;
}

type Reply = (r: KeepAliveReply | Error) => void;

const PROTO = fileURLToPath(new URL('../../src/store/etcd-rpc.proto', import.meta.url));

/** A LeaseKeepAlive stream; `waiting` holds the replies it owes, by lease ID. */
interface KeepAliveStream {
  call: grpc.ClientDuplexStream<unknown, KeepAliveReply>;
  waiting: Map<string, Reply>;
}

interface Client {
  lease: grpc.Client & { LeaseKeepAlive(): grpc.ClientDuplexStream<unknown, KeepAliveReply> };
  idle: KeepAliveStream[];
  shared?: KeepAliveStream;
}

const clients = new Map<string, Client>();

function client(target: string): Client {
  let c = clients.get(target);
  if (c === undefined) {
    const pkg = grpc.loadPackageDefinition(loadSync(PROTO, { keepCase: true, longs: String, defaults: false })).etcdserverpb as any;
    c = { lease: new pkg.Lease(target, grpc.credentials.createInsecure()), idle: [] };
    clients.set(target, c);
  }
  return c;
}

function openStream(c: Client): KeepAliveStream {
  const s: KeepAliveStream = { call: c.lease.LeaseKeepAlive(), waiting: new Map() };
  s.call.on('data', (r: KeepAliveReply) => {
    const reply = s.waiting.get(String(r.ID));
    s.waiting.delete(String(r.ID));
    reply?.(r);
  });
  const fail = (err: Error): void => {
    for (const reply of s.waiting.values()) reply(err);
    s.waiting.clear();
  };
  s.call.on('error', fail);
  s.call.on('end', () => fail(new TetherError('bench.badReply', 'etcd ended a LeaseKeepAlive stream')));
  return s;
}

function send(s: KeepAliveStream, id: string): Promise<KeepAliveReply> {
  return new Promise((resolve, reject) => {
    s.waiting.set(id, (r) => (r instanceof Error ? reject(r) : resolve(r)));
    s.call.write({ ID: id });
  });
}

/** One keep-alive (the undici dispatcher is unused); a reply without a positive TTL means the lease is gone. */
export const etcdGrpcKeepAlive: Step<EtcdGrpcChain> = async (_d, chain) => {
  const c = client(chain.target);
  let reply: KeepAliveReply;
  if (chain.streams === 'shared') {
    c.shared ??= openStream(c);
    reply = await send(c.shared, chain.ID);
  } else {
    const s = c.idle.pop() ?? openStream(c);
    reply = await send(s, chain.ID);
    c.idle.push(s);
  }
  if (!(Number(reply.TTL) > 0)) throw new TetherError('bench.badReply', `gRPC keepalive ${chain.ID}: ${JSON.stringify(reply)}`);
  return chain;
};

/** Ends every stream and closes every channel this thread opened (a load worker just exits). */
export function closeEtcdGrpcClients(): void {
  for (const c of clients.values()) {
    for (const s of [...c.idle, ...(c.shared === undefined ? [] : [c.shared])]) s.call.end();
    c.lease.close();
  }
  clients.clear();
}
