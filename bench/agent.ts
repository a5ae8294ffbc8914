import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'undici';
import { TetherError } from '../src/lib/errors.js';
import { countKeys, currentRevision, etcdctl, grantLease, putLeased, startKeepAlive, startWatch, TXN_OPS, type Watch } from './lib/agent-etcd.js';
import { procStatusMb, smapsParts, watchProcesses, type ProcessWindow, type SmapsParts } from './lib/agent-proc.js';
import { serviceId, startSeededTether, startTarget, writeManifest, type Target } from './lib/agent-setup.js';
import {
  agentCounters,
  deployedAgentEnv,
  deployedAgentNodeArgs,
  followJoins,
  registrationProblems,
  registryServiceCount,
  spawnAgent,
  takeMarker,
  type AgentHeap,
  type AgentProcess,
} from './lib/agent-tether.js';
import { numberOption, registryNodeArgs, type Bench, type BenchContext } from './lib/bench.js';
import { tempDir, type Server } from './lib/child.js';
import { cpuMeter, type Cpu } from './lib/cpu.js';
import { startEtcd } from './lib/etcd.js';
import { fmt, printResult, printTable, ratio, round, warnIfBusy } from './lib/report.js';
import { summarize } from './lib/stats.js';

/**
 * The agent against DESIGN.md's targets, beside etcd doing the same work:
 *
 * - start-up: `tether agent` with N services (HTTP checks against one target
 *   in this process, one session) is spawned and timed to the first and the
 *   N-th `service.join` in the registry, seen by a long-poll of the event
 *   feed that is in flight before the spawn. etcd: the same N keys put on one
 *   lease by `etcdctl txn` (TXN_OPS per txn), timed from the first txn's
 *   spawn to the first and N-th PUT printed by an `etcdctl watch` already
 *   streaming. Median of `--rounds` start-ups, each on a fresh tenant/prefix.
 * - steady state: once all are registered (and `--warmup` s more, 120 by
 *   default: V8 goes on optimizing the hot code for about two minutes after
 *   start, on its helper threads, ~650 TurboFan compiles with 500 services,
 *   and keeps the young generation it grew during start-up until its memory
 *   reducer runs, 10 s to minutes in; RSS 5 s after registration is printed too, the
 *   agent's CPU over the warm-up, and the peak RSS since start), the
 *   agent's CPU and RSS over `--duration` s from /proc, the registry's too;
 *   etcd: the `etcdctl lease keep-alive` process that keeps the lease (and so
 *   the keys) alive, and the etcd server. etcd does no health probing: it is
 *   the lower bound of "keep N registrations alive".
 *
 * The agent runs with the node flags of its deployment files (the
 * node arguments of systemd/tether.service's ExecStart); env TETHER_BENCH_AGENT_NODE_ARGS
 * adds more, e.g. "--cpu-prof --cpu-prof-dir=/tmp/agentprof" (written when
 * it exits).
 */

const TARGETS = { firstMs: 500, cpuPct: 2, rssMb: 80 };
/** Longest wait for all N registrations (or N etcd keys) before the bench fails. */
const REGISTER_TIMEOUT_MS = 60_000;
const HEARTBEAT_TIMEOUT_S = 30;

interface Options {
  services: number;
  rounds: number;
  durationMs: number;
  warmupMs: number;
}

/** One start-up, ms from the spawn (tether) or from the first write (etcd). */
interface StartUp {
  firstMs: number;
  allMs: number;
  /** tether only: spawn -> "agent started" logged (manifest loaded, local API up). */
  startedMs?: number;
}

interface Steady {
  client: ProcessWindow;
  server: ProcessWindow;
  cpu: Cpu;
  /** tether only: VmRSS 5 s after all were registered (the start-up plateau), MB. */
  rssEarlyMb?: number;
  /** tether only: the agent's CPU from 5 s after all were registered to the window (JIT warm-up), fraction of a core. */
  warmupCpu?: number;
  /** What happened in the window, for the reader to check the work was done. */
  work: string;
  /** tether only: V8's heap right after the window, from the agent's /metrics. */
  heap?: AgentHeap;
  /** tether only: VmRSS's two parts at the end of the window, MB: the process's own memory, and the node binary's and libraries' pages. */
  rssAnonMb?: number;
  rssFileMb?: number;
  /** tether only: the same RSS by kind of mapping, at the end of the window. */
  parts?: SmapsParts;
}

interface Side {
  starts: StartUp[];
  steady: Steady;
}

function options(ctx: BenchContext): Options {
  const o = ctx.options;
  const rounds = Math.floor(numberOption(o.rounds, 'rounds', 3));
  const services = Math.floor(numberOption(o.services, 'services', 500));
  if (services > 1000) throw new TetherError('bench.usage', '--services: at most 1000 for the agent bench');
  if (o.store !== undefined && o.store !== 'sqlite') throw new TetherError('bench.usage', 'the agent bench runs the SQLite registry only');
  return { services, rounds, durationMs: numberOption(o.duration, 'duration', 30) * 1000, warmupMs: numberOption(o.warmup, 'warmup', 120) * 1000 };
}

/** `p`, or a TetherError `bench.timeout` naming `what` after `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  const ac = new AbortController();
  const timeout = sleep(ms, undefined, { signal: ac.signal, ref: false }).then(() => {
    throw new TetherError('bench.timeout', `${what}: not done after ${ms} ms`);
  });
  timeout.catch(() => {});
  try {
    return await Promise.race([p, timeout]);
  } finally {
    ac.abort();
  }
}

/** The deployment files' node flags, then TETHER_BENCH_AGENT_NODE_ARGS. */
function agentNodeArgs(): string[] {
  return [...deployedAgentNodeArgs(), ...(process.env.TETHER_BENCH_AGENT_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== '')];
}

/** Rejects (TetherError `bench.registration`) as soon as the agent logs a failed registry call; otherwise runs until `signal` aborts. */
async function failOnProblems(logPath: string, signal: AbortSignal): Promise<never> {
  for (;;) {
    await sleep(250, undefined, { signal });
    const problems = registrationProblems(logPath);
    if (problems.length > 0) throw new TetherError('bench.registration', `the agent failed to register: ${problems.slice(0, 3).join('; ')}`);
  }
}

/** Spawns an agent on a fresh tenant and times it to the first and the last registration. */
async function startAgent(ctx: BenchContext, o: Options, registry: Server, feed: Client, tenant: string, target: Target): Promise<[StartUp, AgentProcess]> {
  const dir = tempDir(ctx.cleanup, 'agent');
  const manifest = join(dir, 'tether.yaml');
  await writeManifest(manifest, { registry: registry.url, tenant, services: o.services, targetPort: target.port, stateDir: join(dir, 'state') });
  const marker = await takeMarker(feed, tenant);
  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stop.signal, AbortSignal.timeout(REGISTER_TIMEOUT_MS)]);
  const joins = followJoins(feed, tenant, marker, o.services, signal);
  joins.catch(() => {});
  const [spawned, spawnedEpoch] = [performance.now(), Date.now()];
  try {
    const agent = await spawnAgent(ctx.cleanup, dir, manifest, agentNodeArgs(), deployedAgentEnv());
    const problems = failOnProblems(agent.logPath, signal);
    problems.catch(() => {});
    const j = await Promise.race([joins, problems]).catch((err: unknown) => {
      if (signal.aborted && !ctx.signal.aborted) throw new TetherError('bench.registration', `not all ${o.services} services registered within ${REGISTER_TIMEOUT_MS} ms`);
      throw err;
    });
    const failed = registrationProblems(agent.logPath);
    if (failed.length > 0) throw new TetherError('bench.registration', `the agent failed to register: ${failed.slice(0, 3).join('; ')}`);
    return [{ firstMs: j.first - spawned, allMs: j.all - spawned, startedMs: agent.startedAt - spawnedEpoch }, agent];
  } finally {
    stop.abort();
  }
}

/** Watches the agent and the registry over the window; fails when a registration was lost or a heartbeat failed. */
async function tetherSteady(ctx: BenchContext, o: Options, agent: AgentProcess, registry: Server, feed: Client, tenant: string, target: Target): Promise<Steady> {
  const early = Math.min(o.warmupMs, 5000);
  await sleep(early, undefined, { signal: ctx.signal });
  const rssEarlyMb = procStatusMb(agent.server.pid, 'VmRSS');
  const [cpu0, t0] = [agent.server.cpuSeconds(), performance.now()];
  // A first /metrics read now, as a Prometheus would make soon after start, so that the window
  // does not open right after the agent's first scrape (500 services' series): twice that first
  // read set off V8's memory reducer, a one-off GC, inside the window.
  await agentCounters(agent.api);
  await sleep(o.warmupMs - early, undefined, { signal: ctx.signal });
  const warmupCpu = (agent.server.cpuSeconds() - cpu0) / ((performance.now() - t0) / 1000);
  const before = await agentCounters(agent.api);
  const [requests, connections] = [target.requests(), target.connections()];
  const meter = cpuMeter({ cpuSeconds: () => agent.server.cpuSeconds() + registry.cpuSeconds() });
  const [client, server] = (await watchProcesses([agent.server.pid, registry.pid], o.durationMs, ctx.signal)) as [ProcessWindow, ProcessWindow];
  const cpu = meter();
  const [rssAnonMb, rssFileMb, parts] = [procStatusMb(agent.server.pid, 'RssAnon'), procStatusMb(agent.server.pid, 'RssFile'), smapsParts(agent.server.pid)];
  const after = await agentCounters(agent.api);
  const listed = await registryServiceCount(feed, tenant);
  const lost = [after.registered !== o.services && `the agent has ${after.registered} registered`, listed !== o.services && `the registry lists ${listed}`];
  if (after.heartbeatsFailed > before.heartbeatsFailed) lost.push(`${after.heartbeatsFailed - before.heartbeatsFailed} heartbeats failed`);
  const problems = lost.filter((p) => p !== false);
  if (problems.length > 0) throw new TetherError('bench.registration', `after the window: ${problems.join(', ')} (want ${o.services})`);
  const work = `${after.probes - before.probes} probes (${target.requests() - requests} target requests on ${target.connections() - connections} new connections), ${after.heartbeatsOk - before.heartbeatsOk} session heartbeats`;
  return { client, server, cpu, rssEarlyMb, warmupCpu, work, heap: after.memory, rssAnonMb, rssFileMb, parts };
}

async function tetherSide(ctx: BenchContext, o: Options): Promise<Side> {
  const run = Date.now().toString(36);
  const tenants = Array.from({ length: o.rounds }, (_, i) => `bench-agent-${run}-${i + 1}`);
  const target = await startTarget(ctx.cleanup);
  const registry = await startSeededTether(ctx.cleanup, tenants, o.services, registryNodeArgs(ctx.options));
  const feed = new Client(registry.url);
  let agent: AgentProcess | null = null;
  try {
    const starts: StartUp[] = [];
    for (const tenant of tenants) {
      await agent?.server.stop(); // SIGTERM: it deregisters, then exits
      const [start, next]: [StartUp, AgentProcess] = await startAgent(ctx, o, registry, feed, tenant, target);
      starts.push(start);
      agent = next;
    }
    const steady = await tetherSteady(ctx, o, agent as AgentProcess, registry, feed, tenants[tenants.length - 1] as string, target);
    return { starts, steady };
  } finally {
    // Agent first (it deregisters through the registry), and both before etcd starts: the sides never share the machine.
    await agent?.server.stop();
    await feed.destroy();
    await registry.stop();
  }
}

/** One etcd start-up: a fresh lease and prefix, N leased keys by txn, timed on the watch. */
async function etcdStart(url: string, watch: Watch, prefix: string, o: Options): Promise<[StartUp, string]> {
  const lease = await grantLease(url, HEARTBEAT_TIMEOUT_S);
  const entries = Array.from({ length: o.services }, (_, i) => {
    const id = serviceId(i, o.services);
    const value = { id, tags: ['bench'], metadata: { zone: 'bench-a', port: String(10_000 + i) }, heartbeat_timeout: HEARTBEAT_TIMEOUT_S };
    return [`${prefix}${id}`, JSON.stringify(value)] as const;
  });
  const seen = Promise.all([watch.puts(prefix, 1), watch.puts(prefix, o.services)]);
  seen.catch(() => {}); // awaited below unless a write fails first
  const t0 = performance.now();
  await putLeased(url, lease, entries);
  const [f, a] = await within(seen, REGISTER_TIMEOUT_MS, `etcd: ${o.services} keys under ${prefix} seen on the watch`);
  return [{ firstMs: f - t0, allMs: a - t0 }, lease];
}

async function etcdSide(ctx: BenchContext, o: Options): Promise<Side> {
  const etcd = await startEtcd(ctx.cleanup);
  let keeper: Server | null = null;
  try {
    const rev = await currentRevision(etcd.url);
    const watch = await startWatch(ctx.cleanup, etcd.url, '/bench/', rev + 1, () => etcdctl(etcd.url, ['put', '/bench/ready', 'x']));
    const starts: StartUp[] = [];
    let lease = '';
    for (let i = 1; i <= o.rounds; i++) {
      ctx.signal.throwIfAborted();
      if (lease !== '') await etcdctl(etcd.url, ['lease', 'revoke', lease]);
      const [start, next] = await etcdStart(etcd.url, watch, `/bench/r${i}/svc/`, o);
      starts.push(start);
      lease = next;
    }
    await watch.close(); // not part of "keeping the keys alive"
    keeper = await startKeepAlive(ctx.cleanup, etcd.url, lease, tempDir(ctx.cleanup, 'keepalive'));
    // etcdctl is a Go binary, with no JIT to wait for: 25 s at most.
    await sleep(Math.min(o.warmupMs, 25_000), undefined, { signal: ctx.signal });
    const k = keeper;
    const meter = cpuMeter({ cpuSeconds: () => k.cpuSeconds() + etcd.cpuSeconds() });
    const [client, server] = (await watchProcesses([keeper.pid, etcd.pid], o.durationMs, ctx.signal)) as [ProcessWindow, ProcessWindow];
    const cpu = meter();
    const kept = await countKeys(etcd.url, `/bench/r${o.rounds}/svc/`);
    if (kept !== o.services) throw new TetherError('bench.registration', `etcd: ${kept} keys left on the lease after the window (want ${o.services})`);
    return { starts, steady: { client, server, cpu, work: `${o.services} keys still on the lease` } };
  } finally {
    await keeper?.stop();
    await etcd.stop();
  }
}

const median = (xs: number[]): number => summarize(xs).p50;
const runs = (xs: number[]): string => xs.map((x) => fmt(x, 0)).join(' / ');
const verdict = (ok: boolean): string => (ok ? 'met' : 'MISSED');

function report(o: Options, t: Side, e: Side, boot: NodeBoot): void {
  const [tFirst, tAll, eFirst, eAll] = [t.starts.map((s) => s.firstMs), t.starts.map((s) => s.allMs), e.starts.map((s) => s.firstMs), e.starts.map((s) => s.allMs)];
  printTable(
    `agent start-up, ${o.services} services, median of ${o.rounds} (runs in brackets); tether: spawn -> service.join seen by a waiting events long-poll; etcd: first \`etcdctl txn\` (${TXN_OPS} leased puts each) spawned -> PUT seen by \`etcdctl watch\``,
    ['system', 'first registered ms', 'all registered ms', 'spawn -> "agent started" ms'],
    [
      ['tether agent', `${fmt(median(tFirst), 0)} [${runs(tFirst)}]`, `${fmt(median(tAll), 0)} [${runs(tAll)}]`, runs(t.starts.map((s) => s.startedMs ?? Number.NaN))],
      ['etcd (etcdctl)', `${fmt(median(eFirst), 0)} [${runs(eFirst)}]`, `${fmt(median(eAll), 0)} [${runs(eAll)}]`, ''],
      ['tether/etcd', fmt(ratio(median(tFirst), median(eFirst))), fmt(ratio(median(tAll), median(eAll))), ''],
    ],
  );
  process.stdout.write(
    `of which Node's own boot (spawn -> exit of \`node -e 0\`, median of 7): ${fmt(boot.ms, 0)} ms` +
      (boot.withoutExtraCaMs === null ? '\n' : `; ${fmt(boot.withoutExtraCaMs, 0)} ms without NODE_EXTRA_CA_CERTS, which this environment sets (Node 20 parses that file at every start)\n`),
  );
  const [tc, ec] = [t.steady.client, e.steady.client];
  const row = (name: string, w: ProcessWindow, what: string): string[] => [
    name, fmt(w.cpu * 100, 2), fmt(w.cpuPeak * 100, 1), fmt(w.rssMaxMb, 1), `${fmt(w.rssFirstMb, 1)} -> ${fmt(w.rssLastMb, 1)}`, fmt(w.rssPeakMb, 1), what,
  ];
  printTable(
    `steady state over ${o.durationMs / 1000} s, ${o.warmupMs / 1000} s after all were registered (CPU in % of one core; RSS sampled every 1 s)`,
    ['process', 'CPU %', 'busiest 1 s CPU %', 'RSS max MB', 'RSS first -> last', 'RSS peak since start MB', 'work in the window'],
    [
      row('tether agent', tc, `${o.services} HTTP probes every 10 s + 1 session heartbeat every 24 s: ${t.steady.work}`),
      row('etcdctl lease keep-alive', ec, `NO health probing; 1 lease keep-alive every 10 s: ${e.steady.work}`),
      ['tether/etcd (client)', fmt(ratio(tc.cpu, ec.cpu)), '', fmt(ratio(tc.rssMaxMb, ec.rssMaxMb)), '', fmt(ratio(tc.rssPeakMb, ec.rssPeakMb)), 'etcd side = lower bound of "keep N registrations alive"'],
      row('tether registry', t.steady.server, 'server'),
      row('etcd', e.steady.server, 'server'),
    ],
  );
  if (o.services > 200) {
    process.stdout.write(`note: the registry runs with --limits service=${Math.max(200, o.services)} (a tenant gets 200 by default)\n`);
  }
  process.stdout.write(`tether agent RSS ${fmt(Math.min(5, o.warmupMs / 1000), 0)} s after all were registered (before the window): ${fmt(t.steady.rssEarlyMb ?? Number.NaN, 1)} MB\n`);
  process.stdout.write(`tether agent CPU from then to the window (warm-up: V8 still optimizing hot code): ${fmt((t.steady.warmupCpu ?? Number.NaN) * 100, 2)} %\n`);
  const h = t.steady.heap;
  const nan = Number.NaN;
  process.stdout.write(
    `tether agent memory at the end of the window (node ${process.version}, flags: ${[...agentNodeArgs(), ...Object.entries(deployedAgentEnv()).map(([k, v]) => `${k}=${v}`)].join(' ') || 'none'}): ` +
      `RSS ${fmt(tc.rssLastMb, 1)} MB = own ${fmt(t.steady.rssAnonMb ?? nan, 1)} + node binary and libraries ${fmt(t.steady.rssFileMb ?? nan, 1)}; ` +
      `V8 heap ${fmt(h?.heapTotalMb ?? nan, 1)} MB (used ${fmt(h?.heapUsedMb ?? nan, 1)}), of which new space ${fmt(h?.newSpaceMb ?? nan, 1)}, ` +
      `old space ${fmt(h?.oldSpaceMb ?? nan, 1)} (used ${fmt(h?.oldUsedMb ?? nan, 1)}); external ${fmt(h?.externalMb ?? nan, 1)} MB\n`,
  );
  const p = t.steady.parts;
  process.stdout.write(
    `  by mapping (resident MB): V8 heap pages ${fmt(p?.v8PagesMb ?? nan, 1)}, malloc ${fmt(p?.mallocMb ?? nan, 1)}, compiled code ${fmt(p?.codeMb ?? nan, 1)}, ` +
      `other own ${fmt(p?.otherAnonMb ?? nan, 1)}; node binary ${fmt(p?.binaryMb ?? nan, 1)}, libraries ${fmt(p?.librariesMb ?? nan, 1)}\n`,
  );
  warnIfBusy('the tether window', t.steady.cpu);
  warnIfBusy('the etcd window', e.steady.cpu);
  process.stdout.write(
    `targets: first registration <= ${TARGETS.firstMs} ms: ${verdict(median(tFirst) <= TARGETS.firstMs)}; ` +
      `agent CPU <= ${TARGETS.cpuPct} %: ${verdict(tc.cpu * 100 <= TARGETS.cpuPct)}; agent RSS <= ${TARGETS.rssMb} MB: ${verdict(tc.rssMaxMb <= TARGETS.rssMb)}\n`,
  );
  printResult('agent', {
    first_registration_ms: round(median(tFirst), 1),
    all_registered_ms: round(median(tAll), 1),
    cpu_pct: round(tc.cpu * 100, 3),
    rss_mb: round(tc.rssMaxMb, 1),
    etcd_cpu_pct: round(ec.cpu * 100, 3),
    etcd_rss_mb: round(ec.rssMaxMb, 1),
    ratio_rss: round(ratio(tc.rssMaxMb, ec.rssMaxMb)),
    ratio_cpu: round(ratio(tc.cpu, ec.cpu)),
    etcd_first_key_ms: round(median(eFirst), 1),
    etcd_all_keys_ms: round(median(eAll), 1),
    ratio_first: round(ratio(median(tFirst), median(eFirst))),
    rss_peak_mb: round(tc.rssPeakMb, 1),
    rss_early_mb: round(t.steady.rssEarlyMb ?? Number.NaN, 1),
    rss_anon_mb: round(t.steady.rssAnonMb ?? Number.NaN, 1),
    rss_file_mb: round(t.steady.rssFileMb ?? Number.NaN, 1),
    rss_v8_pages_mb: round(t.steady.parts?.v8PagesMb ?? Number.NaN, 1),
    rss_malloc_mb: round(t.steady.parts?.mallocMb ?? Number.NaN, 1),
    rss_binary_mb: round(t.steady.parts?.binaryMb ?? Number.NaN, 1),
    heap_total_mb: round(t.steady.heap?.heapTotalMb ?? Number.NaN, 1),
    heap_used_mb: round(t.steady.heap?.heapUsedMb ?? Number.NaN, 1),
    new_space_mb: round(t.steady.heap?.newSpaceMb ?? Number.NaN, 1),
    warmup_cpu_pct: round((t.steady.warmupCpu ?? Number.NaN) * 100, 3),
    registry_cpu_pct: round(t.steady.server.cpu * 100, 3),
    etcd_server_cpu_pct: round(e.steady.server.cpu * 100, 3),
    services: o.services,
    duration_s: o.durationMs / 1000,
    node_boot_ms: round(boot.ms, 1),
    node_boot_without_extra_ca_ms: boot.withoutExtraCaMs === null ? Number.NaN : round(boot.withoutExtraCaMs, 1),
  });
}

export const agent: Bench = async (ctx) => {
  const o = options(ctx);
  const t = await tetherSide(ctx, o);
  const e = await etcdSide(ctx, o);
  const boot = await nodeBoot();
  report(o, t, e, boot);
};

/** Node's own start-up in the agent's environment, and without NODE_EXTRA_CA_CERTS when that is set. */
interface NodeBoot {
  ms: number;
  /** Without NODE_EXTRA_CA_CERTS; null when it is not set. */
  withoutExtraCaMs: number | null;
}

/**
 * Spawn -> exit of `node -e 0`, median of 7: the part of the agent's
 * start-up that is Node's and the machine's, not Tether's. Node 20 reads and
 * parses NODE_EXTRA_CA_CERTS's file at every process start, so a machine that
 * sets it (this one does, for its npm proxy) pays for it in every start-up.
 */
async function nodeBoot(): Promise<NodeBoot> {
  const once = (env: NodeJS.ProcessEnv): Promise<number> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const child = spawn(process.execPath, ['-e', '0'], { env, stdio: 'ignore' });
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new TetherError('bench.nodeBoot', `node -e 0 exited with ${code}`))));
    });
  const median7 = async (env: NodeJS.ProcessEnv): Promise<number> => {
    const xs: number[] = [];
    for (let i = 0; i < 7; i++) xs.push(await once(env));
    return median(xs);
  };
  const { NODE_EXTRA_CA_CERTS: extra, ...rest } = process.env;
  return { ms: await median7(process.env), withoutExtraCaMs: extra === undefined ? null : await median7(rest) };
}
