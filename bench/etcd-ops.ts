import { fileURLToPath } from 'node:url';
import http from 'node:http';
import grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { TetherError } from '../src/lib/errors.js';
import { numberOption, type Bench } from './lib/bench.js';
import type { Server } from './lib/child.js';
import { b64, startEtcd } from './lib/etcd.js';
import { fmt, printResult, printTable } from './lib/report.js';

/**
 * What one operation costs etcd (CPU µs from /proc, over the window) and this
 * client, through the JSON gateway and through gRPC: a lease keep-alive, a
 * put, nested compare-and-puts in one txn (the registry's batched
 * heartbeats), a read of two keys per heartbeat, and the same txns with a
 * watch stream open on their keys (the extra is the watch event). Says how
 * much of a heartbeat on etcd is the gateway, the watch and the write.
 */

const PROTO = fileURLToPath(new URL('../src/store/etcd-rpc.proto', import.meta.url));
const VALUE = JSON.stringify({ token: '1f0a1b2c-3d4e-11ef-8000-0123456789ab', deadline: 1765000000000, last_seen: 1765000000000, renewed_at: 1765000000000 });
const KEYS = 256;
const BATCH = 8;
const key = (i: number): string => `bench/h/svc-${i}`;

type Call = (worker: number) => Promise<void>;
interface Row {
  op: string;
  perS: number;
  etcdUs: number;
  clientUs: number;
}

/** JSON POSTs to the gateway over keep-alive connections (node:http, as src/lib/http-pool.ts). */
function gateway(url: string): (path: string, body: unknown) => Promise<any> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  return (path, body) =>
    new Promise((resolve, reject) => {
      const req = http.request(`${url}${path}`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text)) : reject(new TetherError('bench.badReply', `${path}: ${text}`))));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
}

async function measure(etcd: Server, op: string, inflight: number, opsPerCall: number, ms: number, call: Call): Promise<Row> {
  let ops = 0;
  let stop = false;
  const [e0, c0, t0] = [etcd.cpuSeconds(), process.cpuUsage(), performance.now()];
  const timer = setTimeout(() => (stop = true), ms);
  await Promise.all(
    Array.from({ length: inflight }, async (_, w) => {
      while (!stop) {
        await call(w);
        ops += opsPerCall;
      }
    }),
  );
  clearTimeout(timer);
  const secs = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { op, perS: ops / secs, etcdUs: ((etcd.cpuSeconds() - e0) * 1e6) / ops, clientUs: (c.user + c.system) / ops };
}

export const etcdOps: Bench = async (ctx) => {
  const ms = numberOption(ctx.options.duration, 'duration', 3) * 1000;
  const etcd = await startEtcd(ctx.cleanup);
  const post = gateway(etcd.url);
  const pkg = grpc.loadPackageDefinition(loadSync(PROTO, { keepCase: true, longs: String, defaults: false })).etcdserverpb as any;
  const target = new URL(etcd.url).host;
  const creds = grpc.credentials.createInsecure();
  const [kv, lease, watch] = [new pkg.KV(target, creds), new pkg.Lease(target, creds), new pkg.Watch(target, creds)];
  const unary = (m: string, req: unknown): Promise<any> => new Promise((res, rej) => kv[m](req, (e: Error | null, r: unknown) => (e ? rej(e) : res(r))));
  const rows: Row[] = [];
  const run = async (op: string, inflight: number, per: number, call: Call): Promise<void> => {
    ctx.signal.throwIfAborted();
    rows.push(await measure(etcd, op, inflight, per, ms, call));
  };
  try {
    const leases: string[] = [];
    for (let i = 0; i < 33; i++) leases.push(String((await post('/v3/lease/grant', { ID: String(7_000_000 + i), TTL: '600' })).ID));
    const keyLease = leases.pop() as string;
    const mods = new Map<number, string>();
    for (let i = 0; i < KEYS; i++) mods.set(i, (await post('/v3/kv/put', { key: b64(key(i)), value: b64(VALUE), lease: keyLease })).header.revision);
    const ids = (w: number): number[] => Array.from({ length: BATCH }, (_, j) => (w * BATCH + j) % KEYS);
    const checked = (ids: number[], r: any): void => {
      for (const i of ids) mods.set(i, r.header.revision);
      if (!r.responses.every((x: any) => x.response_txn.succeeded === true)) throw new TetherError('bench.badReply', 'a compare failed');
    };
    const gwBatch: Call = async (w) => {
      const sub = ids(w).map((i) => ({ request_txn: { compare: [{ key: b64(key(i)), target: 'MOD', result: 'EQUAL', mod_revision: mods.get(i) }], success: [{ request_put: { key: b64(key(i)), value: b64(VALUE), lease: keyLease } }] } }));
      checked(ids(w), await post('/v3/kv/txn', { success: sub }));
    };
    const grBatch: Call = async (w) => {
      const sub = ids(w).map((i) => ({ request_txn: { compare: [{ key: Buffer.from(key(i)), target: 'MOD', result: 'EQUAL', mod_revision: mods.get(i) }], success: [{ request_put: { key: Buffer.from(key(i)), value: Buffer.from(VALUE), lease: keyLease } }] } }));
      checked(ids(w), await unary('Txn', { success: sub }));
    };
    const ranges = (w: number, enc: (s: string) => unknown): unknown[] => ids(w).flatMap((i) => [{ request_range: { key: enc(key(i)) } }, { request_range: { key: enc(`bench/s/svc-${i}`) } }]);

    await run('keep-alive: gateway', 32, 1, async (w) => void (await post('/v3/lease/keepalive', { ID: leases[w] })));
    const stream = lease.LeaseKeepAlive();
    const waiting: Array<() => void> = [];
    stream.on('data', () => waiting.shift()?.());
    await run('keep-alive: gRPC stream', 32, 1, (w) => new Promise<void>((r) => (waiting.push(r), stream.write({ ID: leases[w] }))));
    stream.end();
    await run('put with lease: gateway', 32, 1, async (w) => void (await post('/v3/kv/put', { key: b64(`bench/p/${w}`), value: b64(VALUE), lease: keyLease })));
    await run('put with lease: gRPC', 32, 1, async (w) => void (await unary('Put', { key: Buffer.from(`bench/p/${w}`), value: Buffer.from(VALUE), lease: keyLease })));
    await run(`txn of ${BATCH} compare-and-puts: gateway`, 2, BATCH, gwBatch);
    await run(`txn of ${BATCH} compare-and-puts: gRPC`, 2, BATCH, grBatch);
    await run(`read of 2 keys, ${BATCH} in a txn: gateway`, 2, BATCH, async (w) => void (await post('/v3/kv/txn', { success: ranges(w, b64) })));
    await run(`read of 2 keys, ${BATCH} in a txn: gRPC`, 2, BATCH, async (w) => void (await unary('Txn', { success: ranges(w, (s) => Buffer.from(s)) })));
    await withGatewayWatch(etcd.url, () => run(`txn of ${BATCH}, gateway watch open: gateway`, 2, BATCH, gwBatch));
    const w = watch.Watch();
    w.on('data', () => undefined);
    w.on('error', () => undefined);
    w.write({ create_request: { key: Buffer.from('bench/'), range_end: Buffer.from('bench0') } });
    await run(`txn of ${BATCH}, gRPC watch open: gRPC`, 2, BATCH, grBatch);
    w.cancel();
  } finally {
    for (const c of [kv, lease, watch]) c.close();
  }
  printTable(
    `etcd CPU per operation, ${ms / 1000} s each (txn rows: per compare-and-put or per 2-key read)`,
    ['operation', 'per s', 'etcd us/op', 'client us/op'],
    rows.map((r) => [r.op, fmt(r.perS, 0), fmt(r.etcdUs, 0), fmt(r.clientUs, 0)]),
  );
  const us = (op: string): number => Math.round(rows.find((r) => r.op.startsWith(op))?.etcdUs ?? Number.NaN);
  printResult('etcd-ops', {
    keepalive_gateway_us: us('keep-alive: gateway'),
    keepalive_grpc_us: us('keep-alive: gRPC'),
    txn_put_gateway_us: us(`txn of ${BATCH} compare-and-puts: gateway`),
    txn_put_grpc_us: us(`txn of ${BATCH} compare-and-puts: gRPC`),
    read2_gateway_us: us('read of 2 keys, 8 in a txn: gateway'),
    read2_grpc_us: us('read of 2 keys, 8 in a txn: gRPC'),
    watched_put_gateway_us: us(`txn of ${BATCH}, gateway watch open`),
    watched_put_grpc_us: us(`txn of ${BATCH}, gRPC watch open`),
  });
};

/** Runs `fn` with a gateway watch stream open on the bench keys, reading and decoding its events as the etcd store does. */
async function withGatewayWatch(url: string, fn: () => Promise<void>): Promise<void> {
  const ac = new AbortController();
  const req = http.request(`${url}/v3/watch`, { method: 'POST', signal: ac.signal, headers: { 'content-type': 'application/json' } }, (res) => {
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      buf += c;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const msg = JSON.parse(buf.slice(0, nl)) as { result?: { events?: Array<{ kv: { key: string; value?: string } }> } };
        buf = buf.slice(nl + 1);
        for (const e of msg.result?.events ?? []) Buffer.from(e.kv.value ?? '', 'base64').toString('utf8');
      }
    });
    res.on('error', () => undefined);
  });
  req.on('error', () => undefined);
  req.end(JSON.stringify({ create_request: { key: b64('bench/'), range_end: b64('bench0') } }));
  await new Promise((r) => setTimeout(r, 300));
  try {
    await fn();
  } finally {
    ac.abort();
  }
}
