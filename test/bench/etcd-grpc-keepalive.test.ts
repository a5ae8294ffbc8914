import { afterAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { closeEtcdGrpcClients, etcdGrpcKeepAlive, type EtcdGrpcChain } from '../../bench/lib/etcd-grpc-keepalive.js';
import { useEtcd } from '../helpers/etcd.js';

// The heartbeats bench's gRPC comparator, against a real etcd: each keep-alive must renew its own lease.
const etcd = useEtcd();
afterAll(() => closeEtcdGrpcClients());

async function gateway(path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await request(`${etcd().endpoints[0]}${path}`, { method: 'POST', body: JSON.stringify(body) });
  return (await res.body.json()) as Record<string, unknown>;
}

async function leases(n: number, streams: EtcdGrpcChain['streams']): Promise<EtcdGrpcChain[]> {
  const target = new URL(etcd().endpoints[0] as string).host;
  const out: EtcdGrpcChain[] = [];
  for (let i = 0; i < n; i++) out.push({ ID: String((await gateway('/v3/lease/grant', { TTL: 60 })).ID), target, streams });
  return out;
}

const unused = undefined as never;

describe('etcdGrpcKeepAlive', () => {
  for (const streams of ['per-call', 'shared'] as const) {
    it(`keeps 16 leases alive with all 16 in flight at once (${streams})`, async () => {
      const chains = await leases(16, streams);
      for (let round = 0; round < 3; round++) {
        const done = await Promise.all(chains.map((c) => etcdGrpcKeepAlive(unused, c)));
        expect(done).toEqual(chains);
      }
    });

    it(`fails on a revoked lease (${streams})`, async () => {
      const [chain] = await leases(1, streams);
      await gateway('/v3/lease/revoke', { ID: chain?.ID });
      await expect(etcdGrpcKeepAlive(unused, chain as EtcdGrpcChain)).rejects.toMatchObject({ code: 'bench.badReply' });
    });
  }
});
