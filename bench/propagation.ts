import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'undici';
import { TetherError } from '../src/lib/errors.js';
import { takeMarker } from './lib/agent-tether.js';
import { numberOption, registryNodeArgs, type Bench, type BenchContext } from './lib/bench.js';
import type { Server } from './lib/child.js';
import { cpuMeter, type Cpu } from './lib/cpu.js';
import { startEtcd } from './lib/etcd.js';
import { etcdCalls, perChange } from './lib/propagation-etcd-calls.js';
import { Followers } from './lib/propagation-followers.js';
import { BACKSTOP_MS, DETECT_MODES, type DetectMode } from './lib/propagation-observe.js';
import { etcdPipeline, tetherPipeline, type Pipeline } from './lib/propagation-setup.js';
import { fmt, percent, printResult, printTable, ratio, round, warnIfBusy } from './lib/report.js';
import { summarize, type Summary } from './lib/stats.js';
import { startTether } from './lib/tether.js';

/**
 * Configuration change -> new bytes on disk, the agent's reason to exist.
 *
 * 1. One agent: `tether agent` (dist/, a child process) renders one key into
 *    a file; we PUT a new value and time until the file holds it (fs.watch
 *    rename event + a read that confirms the bytes; see propagation-observe).
 *    Each change is sent once the previous one is on disk.
 * 2. etcd, same run, same machine: a minimal watcher process (a v3 watch
 *    through the JSON gateway, write + fsync + rename) in place of the agent,
 *    an etcd put in place of the PUT.
 * 3. Fan-out: one real agent as in 1, while `--followers` SIMULATED agents
 *    (worker threads here, each follower only the agent's long-poll, on its
 *    own connection) wait on the same tenant and are woken by every change.
 *    Between changes everything re-arms and settles, so each change meets
 *    N+1 held polls.
 *
 * Options: --rounds (1000), --fanout-rounds (200), --followers (500),
 * --detect watch|poll, --pause-ms (0: back to back); --registry-node-args and env
 * TETHER_BENCH_AGENT_NODE_ARGS for profiling.
 */

export const propagationOptions = {
  followers: { type: 'string' },
  'fanout-rounds': { type: 'string' },
  detect: { type: 'string' },
  'pause-ms': { type: 'string' },
} as const;

const TARGETS = { p50Ms: 5, p99Ms: 25, fanoutP99Ms: 250 };
const WARMUP_ROUNDS = 50;
const FANOUT_WARMUP_ROUNDS = 20;
const ROUND_TIMEOUT_MS = 5_000;
/** Pause after every follower re-sent its poll, for the registry to park them all before the next change. */
const FANOUT_SETTLE_MS = 100;
const FOLLOWER_WORKERS = 2;

interface Options {
  rounds: number;
  fanoutRounds: number;
  followers: number;
  detect: DetectMode;
  /** Pause after a change was seen before the next one (1 agent, etcd); 0 = back to back. */
  pauseMs: number;
}

function options(ctx: BenchContext): Options {
  const o = ctx.options as Record<string, string | undefined>;
  const detect = o.detect ?? 'watch';
  if (!(DETECT_MODES as readonly string[]).includes(detect)) throw new TetherError('bench.usage', `--detect must be one of ${DETECT_MODES.join(', ')}, got "${detect}"`);
  return {
    rounds: Math.round(numberOption(o.rounds, 'rounds', 1000)),
    fanoutRounds: Math.round(numberOption(o['fanout-rounds'], 'fanout-rounds', 200)),
    followers: Math.round(numberOption(o.followers, 'followers', 500)),
    detect: detect as DetectMode,
    pauseMs: o['pause-ms'] === undefined || o['pause-ms'] === '0' ? 0 : numberOption(o['pause-ms'], 'pause-ms', 0),
  };
}

interface Measured {
  latency: Summary;
  /** Cores used: server = source + file writer together, client = this process (simulated followers included), other = the rest of the machine. */
  cpu: Cpu;
  /** Cores used by the source (registry or etcd). */
  sourceCpu: number;
  /** Cores used by the process that writes the file. */
  followerCpu: number;
  missed: number;
  /** With the registry on etcd: the registry's etcd requests per timed change, by method. */
  etcdPerChange?: Record<string, number>;
}

/** Starts a CPU window over the source and the file writer; the returned function ends it. */
function meter(source: Server, p: Pipeline): () => Pick<Measured, 'cpu' | 'sourceCpu' | 'followerCpu'> {
  const [t0, s0, f0] = [performance.now(), source.cpuSeconds(), p.follower.cpuSeconds()];
  const stop = cpuMeter({ cpuSeconds: () => source.cpuSeconds() + p.follower.cpuSeconds() });
  return () => {
    const cpu = stop();
    const wall = (performance.now() - t0) / 1000;
    return { cpu, sourceCpu: (source.cpuSeconds() - s0) / wall, followerCpu: (p.follower.cpuSeconds() - f0) / wall };
  };
}

/** One change: arm the observer, PUT, resolve with ms from just before the PUT to the bytes on disk. */
async function change(p: Pipeline, value: string): Promise<number> {
  const seen = p.observer.waitFor(value, ROUND_TIMEOUT_MS);
  const t0 = performance.now();
  const [, at] = await Promise.all([p.put(value), seen]);
  return at - t0;
}

/** Warm-up, then `rounds` timed changes, one after the other. */
async function timeChanges(ctx: BenchContext, p: Pipeline, server: Server, o: Options, label: string): Promise<Measured> {
  const pause = (): Promise<void> | undefined => (o.pauseMs > 0 ? sleep(o.pauseMs, undefined, { signal: ctx.signal }) : undefined);
  for (let i = 0; i < WARMUP_ROUNDS; i++) {
    await change(p, `${label}-warm-up-${i}`);
    await pause();
  }
  const samples: number[] = [];
  const stop = meter(server, p);
  for (let i = 0; i < o.rounds; i++) {
    ctx.signal.throwIfAborted();
    samples.push(await change(p, `${label}-${i}`));
    await pause();
  }
  return { latency: summarize(samples), ...stop(), missed: p.observer.missed };
}

async function tetherOne(ctx: BenchContext, registry: Server, o: Options, registryEtcd: string | undefined): Promise<Measured> {
  const p = await tetherPipeline(ctx.cleanup, registry, 'propagation', o.detect);
  try {
    // Read around the whole phase: the warm-up's 50 changes are in it too, which changes nothing per change.
    const before = registryEtcd === undefined ? undefined : await etcdCalls(registryEtcd);
    const m = await timeChanges(ctx, p, registry, o, 'tether');
    if (registryEtcd === undefined || before === undefined) return m;
    return { ...m, etcdPerChange: perChange(before, await etcdCalls(registryEtcd), o.rounds + WARMUP_ROUNDS) };
  } finally {
    await p.close();
  }
}

async function etcdOne(ctx: BenchContext, o: Options): Promise<Measured> {
  const etcd = await startEtcd(ctx.cleanup);
  try {
    const p = await etcdPipeline(ctx.cleanup, etcd, o.detect);
    try {
      return await timeChanges(ctx, p, etcd, o, 'etcd');
    } finally {
      await p.close();
    }
  } finally {
    await etcd.stop();
  }
}

interface FanOut extends Measured {
  /** PUT -> each simulated follower's reply parsed, over followers x rounds. */
  wake: Summary;
}

/**
 * Fan-out: N simulated followers and one agent on tenant `fanout`. Each round
 * PUTs, waits for the agent's file and for all N followers to wake, then for
 * all to poll again and FANOUT_SETTLE_MS more.
 */
async function fanOut(ctx: BenchContext, registry: Server, o: Options): Promise<FanOut> {
  const tenant = 'fanout';
  const p = await tetherPipeline(ctx.cleanup, registry, tenant, o.detect);
  const admin = new Client(registry.url);
  try {
    const marker = await takeMarker(admin, tenant);
    const followers = new Followers(ctx.cleanup, { count: o.followers, workers: FOLLOWER_WORKERS, job: { origin: registry.url, tenant, marker } });
    const n = o.followers;
    await followers.waitFor('armed', n, 30_000, ctx.signal);
    await sleep(FANOUT_SETTLE_MS, undefined, { signal: ctx.signal });
    const agent: number[] = [];
    const putAt = new Map<string, number>();
    let stop: ReturnType<typeof meter> | null = null;
    for (let i = 0; i < FANOUT_WARMUP_ROUNDS + o.fanoutRounds; i++) {
      ctx.signal.throwIfAborted();
      const measured = i >= FANOUT_WARMUP_ROUNDS;
      if (measured && stop === null) stop = meter(registry, p);
      const value = `fanout-${i}`;
      const seen = p.observer.waitFor(value, ROUND_TIMEOUT_MS);
      const t0 = performance.now();
      const [, at] = await Promise.all([p.put(value), seen]);
      if (measured) {
        agent.push(at - t0);
        putAt.set(value, performance.timeOrigin + t0);
      }
      await followers.waitFor('woken', n * (i + 1), ROUND_TIMEOUT_MS, ctx.signal);
      await followers.waitFor('armed', n * (i + 2), ROUND_TIMEOUT_MS, ctx.signal);
      await sleep(FANOUT_SETTLE_MS, undefined, { signal: ctx.signal });
    }
    const used = stop?.() ?? { cpu: { client: Number.NaN, server: Number.NaN, other: Number.NaN }, sourceCpu: Number.NaN, followerCpu: Number.NaN };
    const result = await followers.stop();
    if (result.errors > 0) throw new TetherError('bench.badReply', `${result.errors} follower polls failed; first: ${result.firstError ?? '?'}`);
    return { latency: summarize(agent), ...used, missed: p.observer.missed, wake: summarize(wakeLatencies(putAt, result.wakes, n)) };
  } finally {
    await admin.destroy();
    await p.close();
  }
}

/** ms from each PUT to each follower's wake carrying its value; fails unless every follower woke exactly once per value. */
function wakeLatencies(putAt: ReadonlyMap<string, number>, wakes: ReadonlyMap<string, number[]>, n: number): number[] {
  const out: number[] = [];
  for (const [value, t0] of putAt) {
    const times = wakes.get(value) ?? [];
    if (times.length !== n) throw new TetherError('bench.badReply', `value ${value}: ${times.length} follower wakes, want ${n}`);
    for (const at of times) out.push(at - t0);
  }
  return out;
}

/** What the table does not say: how each side works, what is simulated, the targets. */
function notes(o: Options, t: Measured, e: Measured, f: FanOut): string {
  const missed = t.missed + e.missed + f.missed;
  const met = (ok: boolean): string => (ok ? 'met' : 'MISSED');
  return [
    'etcd watcher: a v3 watch over the JSON gateway (undici), each value written as the agent writes files: temp file, fsync, rename, fsync of the directory.',
    `fan-out: ONE real agent process writes the file; the ${o.followers} other followers are SIMULATED by ${FOLLOWER_WORKERS} worker threads of the bench: each is`,
    "  the agent's long-poll only (GET /events?marker=M&limit=1000&wait=30 on its own keep-alive connection, page parsed, next poll at once), no file.",
    `  Before each change all ${o.followers + 1} polls are re-sent and left ${FANOUT_SETTLE_MS} ms to settle; ${FANOUT_WARMUP_ROUNDS} warm-up rounds.`,
    o.detect === 'poll'
      ? 'detection: 1 ms polling reads (--detect poll).'
      : missed === 0
        ? `detection: fs.watch reported every write (no round was ended by the ${BACKSTOP_MS} ms backstop read).`
        : `detection: fs.watch MISSED ${missed} writes (the ${BACKSTOP_MS} ms backstop read ended those rounds, inflating them): rerun with --detect poll.`,
    ...(t.etcdPerChange === undefined
      ? []
      : [`registry -> etcd requests per change (etcd's grpc_server_handled_total): ${Object.entries(t.etcdPerChange).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}.`]),
    `targets: p50 <= ${TARGETS.p50Ms} ms: ${met(t.latency.p50 <= TARGETS.p50Ms)}, p99 <= ${TARGETS.p99Ms} ms: ${met(t.latency.p99 <= TARGETS.p99Ms)}, ` +
      `fan-out p99 <= ${TARGETS.fanoutP99Ms} ms: ${met(f.latency.p99 <= TARGETS.fanoutP99Ms)}`,
    '',
  ].join('\n');
}

function report(o: Options, t: Measured, e: Measured, f: FanOut): void {
  const row = (name: string, n: number, m: Measured): string[] => [
    name, String(n), fmt(m.latency.p50), fmt(m.latency.p90), fmt(m.latency.p99), fmt(m.latency.max),
    percent(m.sourceCpu), percent(m.followerCpu), percent(m.cpu.client), percent(m.cpu.other),
  ];
  const r = (a: number, b: number): string => fmt(ratio(a, b));
  printTable(
    `propagation: value written at the source -> new bytes in the follower's file (detected by ${o.detect === 'watch' ? 'fs.watch rename events on the directory + a read confirming the bytes' : 'reading the file every 1 ms'}; each change ${o.pauseMs > 0 ? `${o.pauseMs} ms after` : 'as soon as'} the previous one was seen)`,
    ['pipeline', 'rounds', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'CPU: source', 'file writer', 'bench', 'other'],
    [
      row('tether: registry -> 1 agent', o.rounds, t),
      row('etcd: etcd -> minimal watcher', o.rounds, e),
      ['tether/etcd', '', r(t.latency.p50, e.latency.p50), r(t.latency.p90, e.latency.p90), r(t.latency.p99, e.latency.p99), r(t.latency.max, e.latency.max)],
      row(`fan-out: 1 agent + ${o.followers} simulated`, o.fanoutRounds, f),
      [`  simulated followers' wake-up`, `${o.followers}x${o.fanoutRounds}`, fmt(f.wake.p50), fmt(f.wake.p90), fmt(f.wake.p99), fmt(f.wake.max)],
    ],
  );
  process.stdout.write(notes(o, t, e, f));
  warnIfBusy('the single-agent rounds', t.cpu);
  warnIfBusy('the etcd rounds', e.cpu);
  warnIfBusy('the fan-out rounds', f.cpu);
  printResult('propagation', {
    p50_ms: round(t.latency.p50, 3),
    p99_ms: round(t.latency.p99, 3),
    etcd_p50_ms: round(e.latency.p50, 3),
    etcd_p99_ms: round(e.latency.p99, 3),
    ratio_p50: round(ratio(t.latency.p50, e.latency.p50)),
    ratio_p99: round(ratio(t.latency.p99, e.latency.p99)),
    fanout_followers: o.followers,
    fanout_p99_ms: round(f.latency.p99, 3),
    fanout_wake_p99_ms: round(f.wake.p99, 3),
    p90_ms: round(t.latency.p90, 3),
    max_ms: round(t.latency.max, 3),
    fanout_p50_ms: round(f.latency.p50, 3),
    fanout_wake_p50_ms: round(f.wake.p50, 3),
    rounds: o.rounds,
    fanout_rounds: o.fanoutRounds,
    detect: o.detect,
    pause_ms: o.pauseMs,
    watch_missed: t.missed + e.missed + f.missed,
    ...(t.etcdPerChange === undefined ? {} : { etcd_range_per_change: round(t.etcdPerChange.Range ?? 0, 3), etcd_txn_per_change: round(t.etcdPerChange.Txn ?? 0, 3) }),
  });
}

export const propagation: Bench = async (ctx) => {
  const o = options(ctx);
  // The registry's etcd is started here, so that its request counters can be read.
  const registryEtcd = ctx.options.store === 'etcd' ? (await startEtcd(ctx.cleanup)).url : undefined;
  const registry = await startTether(ctx.cleanup, {
    store: ctx.options.store,
    etcdUrl: registryEtcd,
    etcdTransport: ctx.options['etcd-transport'],
    nodeArgs: registryNodeArgs(ctx.options),
  });
  const t = await tetherOne(ctx, registry, o, registryEtcd);
  const e = await etcdOne(ctx, o);
  const f = await fanOut(ctx, registry, o);
  await registry.stop();
  report(o, t, e, f);
};
