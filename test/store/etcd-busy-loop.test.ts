import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { b64 } from '../../src/store/etcd-gateway.js';
import { openTransport, type EtcdTransport, type EtcdTransportKind } from '../../src/store/etcd-transport.js';
import { uniquePrefix, useEtcd } from '../helpers/etcd.js';

/**
 * A call whose reply arrived while the event loop was busy past the call's
 * deadline still succeeds, on both transports: the deadline is judged after
 * the I/O that arrived meanwhile is read (a registry waking 10,000 long-polls
 * in one macrotask saw gRPC calls end with DEADLINE_EXCEEDED although etcd had
 * answered in time, and answered a PUT with 503). Real etcd; the loop is held
 * by a synchronous busy wait, during which etcdctl shows the write applied.
 * Held from a nextTick instead, the loop is busy before the request has even
 * left (grpc-js writes it from an immediate): the stall is the loop's, not
 * etcd's, and must not count against the call either.
 */

const etcd = useEtcd();
const TIMEOUT_MS = 1_000;
const BUSY_MS = TIMEOUT_MS + 500;

const open: EtcdTransport[] = [];
afterAll(async () => {
  await Promise.all(open.map((t) => t.close()));
});

async function transport(kind: EtcdTransportKind): Promise<EtcdTransport> {
  const t = await openTransport(kind, { endpoints: etcd().endpoints, timeoutMs: TIMEOUT_MS });
  open.push(t);
  // Connected first: the calls below are sent at once, not after a connect.
  await t.call('/v3/maintenance/status', {}, true);
  return t;
}

/** etcd's value of `key`, read by etcdctl (a child process: the loop stays blocked). */
function etcdctlGet(key: string): string {
  return execFileSync('etcdctl', ['--endpoints', etcd().endpoints[0]!, 'get', key, '--print-value-only'], { encoding: 'utf8' }).trim();
}

/**
 * Blocks the event loop for BUSY_MS from the next turn on (or, `tick`, from the call's own
 * microtasks on: before the request is written); resolves with whether `applied()` became true
 * while it was blocked (etcd had the request, so its reply was on the way).
 */
function busyAfterSend(applied: () => boolean, tick = false): Promise<boolean> {
  return new Promise((resolve) => {
    const busy = (): void => {
      const t0 = Date.now();
      let seen = false;
      while (Date.now() - t0 < BUSY_MS) {
        if (!seen) seen = applied();
      }
      resolve(seen);
    };
    if (tick) process.nextTick(() => process.nextTick(busy));
    else setImmediate(busy);
  });
}

describe.each(['grpc', 'gateway'] as const)('etcd over %s, the event loop busy past the deadline', (kind) => {
  it('a write etcd applied in time succeeds', async () => {
    const t = await transport(kind);
    const key = `${uniquePrefix()}busy-write`;
    const put = t.call<{ header?: { revision?: string } }>('/v3/kv/put', { key: b64(key), value: b64('v1') }, false);
    const outcome = put.then((r) => ({ ok: true, revision: r.header?.revision }), (e: unknown) => ({ ok: false, error: String(e) }));
    const appliedWhileBusy = await busyAfterSend(() => etcdctlGet(key) === 'v1');
    expect(appliedWhileBusy).toBe(true);
    expect(await outcome).toEqual({ ok: true, revision: expect.stringMatching(/^\d+$/) });
  });

  it('a write held up by the loop before it was sent succeeds (the stall is not counted against etcd)', async () => {
    const t = await transport(kind);
    const key = `${uniquePrefix()}busy-tick`;
    for (let i = 0; i < 3; i++) {
      const put = t.call('/v3/kv/put', { key: b64(key), value: b64(`t${i}`) }, false).then(() => 'ok', String);
      await busyAfterSend(() => false, true);
      expect(await put).toBe('ok');
      expect(etcdctlGet(key)).toBe(`t${i}`);
    }
  });

  it('a read answered while the loop was busy succeeds', async () => {
    const t = await transport(kind);
    const key = `${uniquePrefix()}busy-read`;
    await t.call('/v3/kv/put', { key: b64(key), value: b64('r1') }, false);
    const read = t.call<{ kvs?: { value: string }[] }>('/v3/kv/range', { key: b64(key) }, true).then((r) => r.kvs?.[0]?.value, String);
    await busyAfterSend(() => false);
    expect(await read).toBe(b64('r1'));
  });

  it('a lease keep-alive answered while the loop was busy succeeds', async () => {
    const t = await transport(kind);
    const lease = await t.call<{ ID: string }>('/v3/lease/grant', { TTL: '30' }, false);
    const kept = t.call<{ result?: { TTL?: string } }>('/v3/lease/keepalive', { ID: lease.ID }, false).then((r) => r.result?.TTL, String);
    await busyAfterSend(() => false);
    expect(await kept).toBe('30');
  });
});
