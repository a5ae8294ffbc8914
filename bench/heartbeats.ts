import { Pool } from 'undici';
import { HttpRegistry } from '../src/client/http-registry.js';
import { TetherError } from '../src/lib/errors.js';
import { numberOption, registryNodeArgs, type Bench, type BenchContext } from './lib/bench.js';
import type { Server } from './lib/child.js';
import { startEtcd } from './lib/etcd.js';
import type { EtcdGrpcChain } from './lib/etcd-grpc-keepalive.js';
import { etcdCalls } from './lib/propagation-etcd-calls.js';
import { expectJson, sendJson } from './lib/http.js';
import { parseShape, runLoad, shapeLabel, type LoadReport, type Shape } from './lib/load.js';
import type { Step } from './lib/load-worker.js';
import { fmt, percent, printResult, printTable, ratio, round, warnIfBusy } from './lib/report.js';
import { startTether } from './lib/tether.js';

/**
 * Heartbeat throughput: N services (tenant `bench`, heartbeat_timeout 60),
 * each a sequential token chain, driven closed-loop over keep-alive pools for
 * a fixed window, against the same number of etcd leases kept alive with the
 * same load shape twice: through the v3 JSON gateway, and over etcd's gRPC API
 * (grpc-js; the registry's default transport to etcd since session 11).
 * TETHER_BENCH_GRPC_STREAMS=shared sends the gRPC keep-alives on one stream
 * instead of one stream per keep-alive in flight (etcd-grpc-keepalive.ts).
 */

const TENANT = 'bench';
const TARGET_PER_S = 15_000;
/**
 * One client thread, 32 connections, 32 chains in flight. On the 2-core box
 * 1x32, 2x32 and 2x64 gave the same tether throughput within noise (the
 * server's core is the limit) and 1x64 less; 1x32 does it with the least
 * client CPU, leaving the most for the server. Sweep with `--shape`.
 */
const DEFAULT_SHAPES = '1x32';

interface TetherChain {
  path: string;
  token: string;
}

/** One heartbeat: sends the chain's token, keeps the next one. */
export const tetherBeat: Step<TetherChain> = async (d, chain) => {
  const reply = await sendJson(d, 'POST', chain.path, { token: chain.token });
  const token = (reply.body as { token?: unknown } | undefined)?.token;
  if (reply.status !== 200 || typeof token !== 'string') {
    throw new TetherError('bench.badReply', `heartbeat ${chain.path}: HTTP ${reply.status} ${JSON.stringify(reply.body)}`);
  }
  chain.token = token;
  return chain;
};

interface EtcdChain {
  ID: string;
}

/** One lease keep-alive; a reply without a positive TTL means the lease is gone. */
export const etcdKeepAlive: Step<EtcdChain> = async (d, chain) => {
  const reply = await sendJson(d, 'POST', '/v3/lease/keepalive', chain);
  const ttl = Number((reply.body as { result?: { TTL?: unknown } } | undefined)?.result?.TTL);
  if (reply.status !== 200 || !(ttl > 0)) {
    throw new TetherError('bench.badReply', `keepalive ${chain.ID}: HTTP ${reply.status} ${JSON.stringify(reply.body)}`);
  }
  return chain;
};

async function tetherChains(server: Server, n: number): Promise<TetherChain[]> {
  const registry = new HttpRegistry({ url: server.url });
  try {
    const chains: TetherChain[] = [];
    for (let i = 0; i < n; i++) {
      const id = `svc-${i}`;
      const { token } = await registry.createService(TENANT, { id, heartbeat_timeout: 60 });
      if (token === null) throw new TetherError('bench.badReply', `POST /services gave no token for ${id}`);
      chains.push({ path: `/v1.0/${TENANT}/services/${id}/heartbeat`, token });
    }
    return chains;
  } finally {
    await registry.close();
  }
}

async function etcdChains(server: Server, n: number): Promise<EtcdChain[]> {
  const pool = new Pool(server.url, { connections: 1 });
  try {
    const chains: EtcdChain[] = [];
    for (let i = 0; i < n; i++) {
      const body = (await expectJson(pool, 'POST', '/v3/lease/grant', { TTL: 60 }, 200)) as { ID?: unknown };
      chains.push({ ID: String(body.ID) });
    }
    return chains;
  } finally {
    await pool.close();
  }
}

interface System {
  name: 'tether' | 'etcd gateway' | 'etcd gRPC';
  /** The server, and the etcd under it when it has one (its CPU is counted per heartbeat too). */
  start(): Promise<{ server: Server; under?: Server }>;
  chains(server: Server, n: number): Promise<unknown[]>;
  step: 'tetherBeat' | 'etcdKeepAlive' | 'etcdGrpcKeepAlive';
  /** The module exporting `step` (default: this one). */
  stepModule?: string;
}

interface Row {
  system: string;
  shape: Shape;
  report: LoadReport;
  /** Cores the etcd under the server used over the window (NaN without one). */
  underCpu: number;
}

/**
 * CPU seconds of `server` sampled every 250 ms, so the cores it used over the
 * last `ms` before stop() can be read without hooking into the load window.
 */
function cpuTrail(server: Server | undefined): () => (ms: number) => number {
  if (server === undefined) return () => () => Number.NaN;
  const samples: Array<[number, number]> = [[performance.now(), server.cpuSeconds()]];
  const timer = setInterval(() => samples.push([performance.now(), server.cpuSeconds()]), 250);
  return () => {
    clearInterval(timer);
    const [t1, c1] = [performance.now(), server.cpuSeconds()];
    return (ms) => {
      const from = samples.reduce((a, b) => (Math.abs(t1 - ms - b[0]) < Math.abs(t1 - ms - a[0]) ? b : a));
      return (c1 - from[1]) / ((t1 - from[0]) / 1000);
    };
  };
}

/** Microseconds of CPU per heartbeat from cores used and the rate. */
const usPer = (cores: number, perSecond: number): number => (cores * 1e6) / perSecond;

/** Every shape in turn on one fresh server; the chains carry over from shape to shape. */
async function measure(ctx: BenchContext, sys: System, shapes: Shape[], n: number, warmupMs: number, durationMs: number): Promise<Row[]> {
  const { server, under } = await sys.start();
  try {
    let states = await sys.chains(server, n);
    const rows: Row[] = [];
    for (const shape of shapes) {
      ctx.signal.throwIfAborted();
      const trail = cpuTrail(under);
      const txns0 = under === undefined ? undefined : await txnsAndBeats(under.url, server.url);
      const report = await runLoad(ctx.cleanup, { server, shape, stepModule: sys.stepModule ?? import.meta.url, stepName: sys.step, states, warmupMs, durationMs });
      rows.push({ system: sys.name, shape, report, underCpu: trail()(durationMs) });
      if (txns0 !== undefined) {
        // Warm-up included on both sides of the ratio: a figure the load does not move much.
        const txns1 = await txnsAndBeats((under as Server).url, server.url);
        process.stdout.write(`${sys.name} ${shapeLabel(shape)}: ${fmt((txns1[0] - txns0[0]) / (txns1[1] - txns0[1]), 3)} etcd Txn calls per heartbeat\n`);
      }
      states = report.states;
    }
    return rows;
  } finally {
    await server.stop();
    await under?.stop();
  }
}

/** etcd's Txn calls served (gRPC and gateway alike) and the registry's heartbeats received, now. */
async function txnsAndBeats(etcdUrl: string, registryUrl: string): Promise<[number, number]> {
  const txns = (await etcdCalls(etcdUrl)).get('Txn') ?? 0;
  const text = await (await fetch(`${registryUrl}/metrics`)).text();
  let beats = 0;
  for (const m of text.matchAll(/^tether_registry_heartbeats_total\{[^}]*\} (\d+)$/gm)) beats += Number(m[1]);
  return [txns, beats];
}

/** Leases granted through the gateway (setup only), kept alive over gRPC. */
async function etcdGrpcChains(server: Server, n: number): Promise<EtcdGrpcChain[]> {
  const streams = process.env.TETHER_BENCH_GRPC_STREAMS === 'shared' ? 'shared' : 'per-call';
  const target = new URL(server.url).host;
  return (await etcdChains(server, n)).map(({ ID }) => ({ ID, target, streams }));
}

const best = (rows: Row[]): Row => rows.reduce((a, b) => (b.report.perSecond > a.report.perSecond ? b : a));

export const heartbeats: Bench = async (ctx) => {
  const { options } = ctx;
  const n = numberOption(options.services, 'services', 200);
  const durationMs = numberOption(options.duration, 'duration', 10) * 1000;
  const warmupMs = numberOption(options.warmup, 'warmup', 1) * 1000;
  const shapes = (options.shape ?? DEFAULT_SHAPES).split(',').map(parseShape);
  const startRegistry = async (): Promise<{ server: Server; under?: Server }> => {
    if (options.store !== 'etcd') return { server: await startTether(ctx.cleanup, { store: options.store, nodeArgs: registryNodeArgs(options) }) };
    const under = await startEtcd(ctx.cleanup);
    return { server: await startTether(ctx.cleanup, { store: 'etcd', etcdUrl: under.url, etcdTransport: options['etcd-transport'], nodeArgs: registryNodeArgs(options) }), under };
  };
  const systems: System[] = [
    { name: 'tether', start: startRegistry, chains: tetherChains, step: 'tetherBeat' },
    { name: 'etcd gateway', start: async () => ({ server: await startEtcd(ctx.cleanup) }), chains: etcdChains, step: 'etcdKeepAlive' },
    {
      name: 'etcd gRPC', start: async () => ({ server: await startEtcd(ctx.cleanup) }), chains: etcdGrpcChains,
      step: 'etcdGrpcKeepAlive', stepModule: new URL('./lib/etcd-grpc-keepalive.ts', import.meta.url).href,
    },
  ];
  const rows: Row[] = [];
  for (const sys of systems) rows.push(...(await measure(ctx, sys, shapes, n, warmupMs, durationMs)));

  printTable(
    `heartbeats: ${n} chains, ${durationMs / 1000} s after ${warmupMs / 1000} s warm-up; shape = workers x connections[/in flight per worker]`,
    ['system', 'shape', 'per s', 'p50 ms', 'p99 ms', 'errors', 'CPU: client', 'server', 'other procs', 'us/beat: server', 'its etcd'],
    rows.map(({ system, shape, report: r, underCpu }) => [
      system, shapeLabel(shape), fmt(r.perSecond, 0), fmt(r.latency.p50), fmt(r.latency.p99), String(r.errors),
      percent(r.cpu.client), percent(r.cpu.server), percent(r.cpu.other),
      fmt(usPer(r.cpu.server, r.perSecond), 0), Number.isNaN(underCpu) ? '-' : fmt(usPer(underCpu, r.perSecond), 0),
    ]),
  );
  // The ratio compares both systems under the same load: the shape where tether did best.
  const t = best(rows.filter((r) => r.system === 'tether'));
  const e = rows.find((r) => r.system === 'etcd gateway' && r.shape === t.shape) as Row;
  const g = rows.find((r) => r.system === 'etcd gRPC' && r.shape === t.shape) as Row;
  for (const r of rows) warnIfBusy(`${r.system} ${shapeLabel(r.shape)}`, r.report.cpu);
  const errors = rows.reduce((a, r) => a + r.report.errors, 0);
  const x = ratio(t.report.perSecond, e.report.perSecond);
  const xg = ratio(t.report.perSecond, g.report.perSecond);
  process.stdout.write(
    `at ${shapeLabel(t.shape)}: tether ${fmt(t.report.perSecond, 0)}/s; etcd keep-alives over gRPC ${fmt(g.report.perSecond, 0)}/s, tether/etcd gRPC = ${fmt(xg)}; ` +
      `through the gateway ${fmt(e.report.perSecond, 0)}/s, tether/etcd gateway = ${fmt(x)}; target >= ${TARGET_PER_S}/s: ${t.report.perSecond >= TARGET_PER_S ? 'met' : 'MISSED'}\n`,
  );
  printResult('heartbeats', {
    tether_per_s: Math.round(t.report.perSecond),
    etcd_per_s: Math.round(e.report.perSecond),
    // ratio: against gateway keep-alives (as before session 11); ratio_grpc: against gRPC keep-alives.
    ratio: round(x),
    etcd_grpc_per_s: Math.round(g.report.perSecond),
    ratio_grpc: round(xg),
    p50_ms: round(t.report.latency.p50),
    p99_ms: round(t.report.latency.p99),
    etcd_p50_ms: round(e.report.latency.p50),
    etcd_p99_ms: round(e.report.latency.p99),
    etcd_grpc_p50_ms: round(g.report.latency.p50),
    etcd_grpc_p99_ms: round(g.report.latency.p99),
    errors,
    shape: shapeLabel(t.shape),
    client_cpu: round(t.report.cpu.client),
    server_cpu: round(t.report.cpu.server),
    other_cpu: round(t.report.cpu.other),
    // CPU per heartbeat: the registry, the etcd under it (with --store etcd), etcd per keep-alive.
    server_us: Math.round(usPer(t.report.cpu.server, t.report.perSecond)),
    ...(Number.isNaN(t.underCpu) ? {} : { store_etcd_us: Math.round(usPer(t.underCpu, t.report.perSecond)) }),
    etcd_us: Math.round(usPer(e.report.cpu.server, e.report.perSecond)),
    etcd_grpc_us: Math.round(usPer(g.report.cpu.server, g.report.perSecond)),
    target_per_s: TARGET_PER_S,
  });
  if (errors > 0) {
    const first = rows.find((r) => r.report.firstError !== null)?.report.firstError;
    throw new TetherError('bench.errors', `heartbeats: ${errors} failed requests (first: ${first})`);
  }
};
