import { Pool } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { etcdGrpcCalls, useEtcd } from '../helpers/etcd.js';
import { etcdRegistryImplementations, type RegistryHarness } from '../helpers/registries.js';

/**
 * Heartbeats on etcd are marked `coalesce` (store.ts TxnOptions), so under
 * load they wait a moment for company (etcd-batch.ts, Linger) and many go as
 * one etcd txn; configuration writes never wait. Through the HTTP server, on
 * a real etcd, counted by etcd itself.
 */

const T = 'linger';
const etcd = useEtcd();
const impl = etcdRegistryImplementations(() => etcd().endpoints).http;
let open: RegistryHarness | undefined;

afterEach(async () => {
  await open?.close();
  open = undefined;
});

/** etcd's count of the Txn requests it handled. */
async function txns(): Promise<number> {
  return etcdGrpcCalls(etcd().endpoints[0]!, ['Txn']);
}

async function beat(pool: Pool, id: string, token: string): Promise<{ status: number; token?: string; ms: number }> {
  const start = performance.now();
  const res = await pool.request({
    method: 'POST',
    path: `/v1.0/${T}/services/${id}/heartbeat`,
    headers: { 'content-type': 'application/json', 'x-auth-token': 'conformance-token' },
    body: JSON.stringify({ token }),
  });
  const body = (await res.body.json()) as { token?: string };
  return { status: res.statusCode, ...(body.token !== undefined ? { token: body.token } : {}), ms: performance.now() - start };
}

describe('heartbeats on etcd: coalesced writes', () => {
  it('rounds of 48 concurrent heartbeats over HTTP go as a few etcd txns; every chain advances', async () => {
    const h = (open = await impl.open({ reaperIntervalMs: 0 }));
    const n = 48;
    const tokens: string[] = [];
    for (let i = 0; i < n; i++) tokens.push((await h.registry.createService(T, { id: `svc-${i}`, heartbeat_timeout: 60 })).token!);
    const pool = new Pool(h.raw!.url, { connections: n });
    try {
      const round = async (): Promise<void> => {
        const replies = await Promise.all(tokens.map((t, i) => beat(pool, `svc-${i}`, t)));
        expect(replies.map((r) => r.status)).toEqual(tokens.map(() => 200));
        replies.forEach((r, i) => (tokens[i] = r.token!));
      };
      // The first beat of a chain after its creation may read its state (a read-only Txn): not counted.
      await round();
      const before = await txns();
      for (let i = 0; i < 3; i++) await round();
      const sent = (await txns()) - before;
      // 144 heartbeats; sent one by one they would be 144 txns (a lease keep-alive is not a Txn).
      expect(sent).toBeGreaterThan(0);
      expect(sent).toBeLessThan(144 / 3);
      // The tokens handed out are the current ones: each chain goes on, and an old token is refused.
      const next = await beat(pool, 'svc-0', tokens[0]!);
      expect(next.status).toBe(200);
      expect((await beat(pool, 'svc-0', tokens[0]!)).status).toBe(404);
    } finally {
      await pool.close();
    }
  });

  it('a lone heartbeat right after a crowd is one txn; a configuration write beside a heartbeat goes with it or on its own', async () => {
    const h = (open = await impl.open({ reaperIntervalMs: 0 }));
    const n = 16;
    const tokens: string[] = [];
    for (let i = 0; i < n; i++) tokens.push((await h.registry.createService(T, { id: `svc-${i}`, heartbeat_timeout: 60 })).token!);
    const pool = new Pool(h.raw!.url, { connections: n });
    try {
      // A crowd: the last batch was not alone, so the store is in its lingering mode.
      const replies = await Promise.all(tokens.map((t, i) => beat(pool, `svc-${i}`, t)));
      replies.forEach((r, i) => (tokens[i] = r.token!));
      const before = await txns();
      const lone = await beat(pool, 'svc-0', tokens[0]!);
      expect(lone.status).toBe(200);
      expect((await txns()) - before).toBe(1);
      // The same heartbeat with a configuration write beside it: both in one etcd txn or two, never waiting on each other.
      const [again] = await Promise.all([beat(pool, 'svc-0', lone.token!), h.registry.setConfig(T, 'cfg-1', { value: 'v' })]);
      expect(again.status).toBe(200);
      expect((await h.registry.getConfig(T, 'cfg-1')).value).toBe('v');
    } finally {
      await pool.close();
    }
  });
});
