import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { beatLeaseMs, type Ctx } from '../../src/registry/context.js';
import { RegistryService } from '../../src/registry/service.js';
import { openEtcdStore } from '../../src/store/etcd.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { useOpenRegistries } from '../helpers/etcd-registries.js';

/**
 * etcd-servers.test.ts's fault injection over the default transport, gRPC:
 * an HTTP/2 pass-through to etcd that, for one gRPC method, lets etcd apply
 * the call and take its reply, then resets the stream instead of passing the
 * reply on. A registry must answer the write it had committed before that
 * call (spec 6.7's token chain), not a 503.
 */

const TENANT = 'race';
const etcd = useEtcd();
const open = useOpenRegistries();

interface FaultyProxy {
  url: string;
  /** The gRPC method path (`/etcdserverpb.Lease/LeaseRevoke`) whose replies are dropped; null passes all. */
  failPath: string | null;
  /** Replies dropped so far: the fault really happened. */
  dropped: number;
  close(): Promise<void>;
}

/** Header names HTTP/2 sets per hop: the pass-through sets its own. */
const HOP = new Set([':scheme', ':authority', ':status']);

function forwarded(headers: http2.IncomingHttpHeaders): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (!HOP.has(k) && v !== undefined) out[k] = v;
  return out;
}

async function faultyGrpcProxy(target: string): Promise<FaultyProxy> {
  const upstream = http2.connect(target);
  upstream.on('error', () => undefined);
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  const proxy: FaultyProxy = {
    url: '',
    failPath: null,
    dropped: 0,
    close: async () => {
      for (const s of sessions) s.destroy();
      upstream.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('stream', (down, headers) => {
    const path = headers[':path'];
    const up = upstream.request(forwarded(headers));
    down.on('error', () => up.close(http2.constants.NGHTTP2_CANCEL));
    up.on('error', () => down.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    down.on('close', () => up.close(http2.constants.NGHTTP2_CANCEL));
    down.pipe(up);
    // Judged per reply, not per stream: a keep-alive stream may outlive a change of failPath.
    const dropped = (): boolean => {
      if (path !== proxy.failPath) return false;
      // etcd applied the call and answered: the answer is lost on the way back.
      proxy.dropped++;
      down.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      return true;
    };
    let trailers: http2.OutgoingHttpHeaders = {};
    up.on('trailers', (t) => (trailers = forwarded(t)));
    up.on('response', (h) => {
      if (down.destroyed) return;
      // A trailers-only answer (a gRPC error) ends in its headers.
      if (h['grpc-status'] !== undefined) {
        if (!dropped()) down.respond(forwarded(h), { endStream: true });
        return;
      }
      down.respond(forwarded(h), { waitForTrailers: true });
      down.on('wantTrailers', () => down.sendTrailers(trailers));
      up.on('data', (chunk: Buffer) => {
        if (!down.destroyed && !dropped()) down.write(chunk);
      });
      up.on('end', () => {
        if (!down.destroyed) down.end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

async function grpcService(proxy: FaultyProxy, clock: FakeClock): Promise<RegistryService> {
  const store = await openEtcdStore({ endpoints: [proxy.url], prefix: uniquePrefix(), compactionIntervalMs: 0, timeoutMs: 1_000, transport: 'grpc' });
  const service = await RegistryService.open(store, { clock, logger: silentLogger(), reaperIntervalMs: 0, reaperGraceMs: 0 });
  open.push({ service, store });
  return service;
}

describe('a registry server over gRPC whose etcd fails between the two writes of a heartbeat', () => {
  it('answers the committed heartbeat with its new token, not a 503 that strands the agent on a consumed token', async () => {
    const proxy = await faultyGrpcProxy(etcd().endpoints[0]!);
    try {
      const clock = new FakeClock();
      const service = await grpcService(proxy, clock);
      const { token } = await service.createService(TENANT, { id: 'beating', tags: [], metadata: {}, heartbeat_timeout: 120 });
      // A heartbeat renews its lease only once a third of the lease's TTL has passed (beats.ts).
      clock.advance(beatLeaseMs({ opts: { reaperGraceMs: 0 } } as Ctx) / 3);
      proxy.failPath = '/etcdserverpb.Lease/LeaseKeepAlive'; // the token CAS commits; renewing its lease does not
      const next = await service.heartbeatService(TENANT, 'beating', { token: token! });
      proxy.failPath = null;
      expect(proxy.dropped).toBeGreaterThan(0);
      // The chain goes on from the token the registry committed and answered.
      await service.heartbeatService(TENANT, 'beating', { token: next.token });
      await expect(service.heartbeatService(TENANT, 'beating', { token: token! })).rejects.toMatchObject({ type: 'notFoundError' });
    } finally {
      await proxy.close();
    }
  });
});

describe('a registry server over gRPC whose etcd fails the lease revoke after a committed removal', () => {
  it('answers the committed delete and the committed expiry as done, not with a 503', async () => {
    const proxy = await faultyGrpcProxy(etcd().endpoints[0]!);
    try {
      const clock = new FakeClock();
      const service = await grpcService(proxy, clock);
      await service.createService(TENANT, { id: 'deleted', tags: [], metadata: {}, heartbeat_timeout: 10 });
      await service.createService(TENANT, { id: 'expired', tags: [], metadata: {}, heartbeat_timeout: 3 });
      proxy.failPath = '/etcdserverpb.Lease/LeaseRevoke'; // the delete/expiry txn commits; revoking its lease (cleanup) does not
      await service.deleteService(TENANT, 'deleted');
      clock.advance(5_000);
      expect((await service.listServices(TENANT)).values).toEqual([]);
      proxy.failPath = null;
      expect(proxy.dropped).toBeGreaterThan(0);
      const types = (await service.listEvents(TENANT)).values.map((e) => [e.type, (e.payload as { id: string }).id]);
      expect(types).toEqual([
        ['service.join', 'deleted'],
        ['service.join', 'expired'],
        ['service.remove', 'deleted'],
        ['service.timeout', 'expired'],
      ]);
    } finally {
      await proxy.close();
    }
  });
});
