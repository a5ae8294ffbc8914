import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, request } from 'undici';
import { TetherError } from '../src/lib/errors.js';
import { numberOption, registryNodeArgs, type Bench, type BenchContext } from './lib/bench.js';
import type { Server } from './lib/child.js';
import { processCpuSeconds } from './lib/cpu.js';
import type { EtcdWatcherJob } from './lib/etcd-watcher-worker.js';
import { b64, startEtcd } from './lib/etcd.js';
import { firstByteKey } from './lib/follower-counters.js';
import type { RawFollowerJob } from './lib/follower-raw-worker.js';
import { expectJson } from './lib/http.js';
import { Followers } from './lib/propagation-followers.js';
import { fmt, printResult, printTable, ratio, round } from './lib/report.js';
import { summarize, type Summary } from './lib/stats.js';
import { deployedRegistryNodeArgs, startTether } from './lib/tether.js';

/**
 * Fan-out at fleet scale: N followers wait for the next change, one write is
 * made, and we time from just before the write to each follower's reply
 * parsed (p50/p99/max over followers x rounds), and weigh what the waiting
 * costs the server (RSS with all N waiting minus RSS before, per follower).
 *
 * - tether, embedded: one `tether registry` on SQLite; each follower holds
 *   `GET /events?marker=M&wait=30` on its own connection, as an agent's
 *   EventsFollower does, and polls again at once after each wake.
 * - tether, two servers over one etcd: half the followers on each server,
 *   the write through the first; the second learns of it from its etcd watch.
 * - etcd: N watch streams on the key through etcd's v3 JSON gateway, each on
 *   its own connection (a minimal etcd-based agent), the write a put.
 *
 * Followers are simulated by worker threads of this process (what a real
 * agent puts on the server is exactly its long-poll), as raw sockets that
 * only read and check the reply (follower-raw-worker.ts, etcd-watcher-worker.ts):
 * they share the 2 cores with the servers, and a full client's parsing
 * would make part of the tail measured. Each reply is timed at its first
 * byte and when whole: the first is the server's part. Options: --followers N
 * (10000), --rounds N measured wakes per system after one warm-up (5).
 */

const TENANT = 'followers';
const RAW_FOLLOWER = new URL('./lib/follower-raw-worker.ts', import.meta.url);
const KEY = 'followers-key';
const WORKERS = 4;
/** Followers connect over this long, as a fleet does, rather than in one burst of connects. */
const RAMP_MS = 5_000;
const ARM_TIMEOUT_MS = 120_000;
const WAKE_TIMEOUT_MS = 60_000;
/** After all followers are armed, before RSS is read and the next write made: the last polls reach the server. */
const SETTLE_MS = 1_000;
const TARGETS = { p99Ms: 500, bytesPerFollower: 10 * 1024 };
/** The tether servers must hold N connections from one address. */
const CONNECTION_FLAGS: readonly string[] = [];

interface Measured {
  wake: Summary;
  /** From the write to each reply's first byte read by its client (the server's part, plus the client thread's queueing). */
  firstByte: Summary;
  /** Per reply, from its first byte to its body whole and checked (the client's own part). */
  client: Summary;
  /** Server RSS growth with all followers waiting, per follower, bytes (summed over servers). */
  bytesPerFollower: number;
  /**
   * Tether only (NaN for etcd): growth of the servers' V8 old space in use
   * (objects that outlived two young collections: the connections and polls),
   * per follower, and the young generation's size with all waiting (MB, summed).
   * RSS growth holds both, and the young generation's growth under the
   * connect burst is not per follower.
   */
  heapPerFollower: number;
  youngMb: number;
  /** Requests that failed while the followers connected (retried). */
  armingErrors: number;
  /**
   * Server CPU (user + sys, summed over servers) over the measured rounds, per
   * follower per wake, microseconds: the reply and, for Tether, the next poll.
   * Holds under a loaded machine where wall latencies do not.
   */
  cpuUsPerWake: number;
  /** The same for this process (the simulated followers), microseconds per follower per wake. */
  clientCpuUsPerWake: number;
}

const epochNow = (): number => performance.timeOrigin + performance.now();

/** Resident set size of a process, bytes (Linux). */
function rssBytes(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kb === undefined) throw new TetherError('bench.badReply', `no VmRSS for pid ${pid}`);
  return Number(kb) * 1024;
}

/** The newest event id of the tenant (the followers' first marker). */
async function lastEventId(server: Server): Promise<string> {
  const admin = new Client(server.url);
  try {
    let marker: string | undefined;
    for (let page = (await expectJson(admin, 'GET', `/v1.0/${TENANT}/events?limit=1000`, undefined, 200)) as { values: { id: string }[] }; ; ) {
      marker = page.values[page.values.length - 1]?.id ?? marker;
      if (page.values.length < 1000) break;
      page = (await expectJson(admin, 'GET', `/v1.0/${TENANT}/events?limit=1000&marker=${marker}`, undefined, 200)) as { values: { id: string }[] };
    }
    if (marker === undefined) throw new TetherError('bench.badReply', 'no events to start from');
    return marker;
  } finally {
    await admin.destroy();
  }
}

interface Target {
  name: string;
  servers: Server[];
  /** Starts the followers (split over `servers`) from the current position. */
  follow(n: number): Promise<Followers<object>[]>;
  put(value: string): Promise<unknown>;
  /** True when every follower polls again after a wake (tether); etcd's streams stay open. */
  rearms: boolean;
  /** Long-polls the servers hold now (tether's /metrics gauge); undefined where there is none (etcd). */
  waiting?: () => Promise<number>;
}

interface HeapReading {
  /** Old and large-object spaces in use, bytes. */
  old: number;
  /** The young generation's size (its semi-spaces), bytes. */
  young: number;
}

/** V8's heap spaces from a server's /metrics (prom-client's default metrics). */
async function heapOf(server: Server): Promise<HeapReading> {
  const text = await (await request(`${server.url}/metrics`)).body.text();
  const space = (what: 'used' | 'total', name: string): number =>
    Number(new RegExp(`^nodejs_heap_space_size_${what}_bytes\\{space="${name}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { old: space('used', 'old') + space('used', 'large_object'), young: space('total', 'new') };
}

const sumHeap = async (servers: Server[]): Promise<HeapReading> =>
  (await Promise.all(servers.map(heapOf))).reduce((a, b) => ({ old: a.old + b.old, young: a.young + b.young }), { old: 0, young: 0 });

/** `tether_long_polls_waiting{api="registry"}` of a server's /metrics. */
async function waitingPolls(server: Server): Promise<number> {
  const res = await request(`${server.url}/metrics`);
  const text = await res.body.text();
  return Number(/^tether_long_polls_waiting\{api="registry"\} (\d+)/m.exec(text)?.[1] ?? 0);
}

async function tetherTarget(ctx: BenchContext, servers: Server[]): Promise<Target> {
  const writer = new Client(servers[0]!.url);
  ctx.cleanup.add({ name: 'followers writer', close: () => writer.destroy(), kill: () => void writer.destroy() });
  const path = `/v1.0/${TENANT}/configuration/${KEY}`;
  const put = (value: string): Promise<unknown> => expectJson(writer, 'PUT', path, { value }, 204);
  await put('initial');
  return {
    name: servers.length === 1 ? 'tether, embedded' : `tether, ${servers.length} servers over one etcd`,
    servers,
    put,
    rearms: true,
    waiting: async () => (await Promise.all(servers.map(waitingPolls))).reduce((a, b) => a + b, 0),
    async follow(n) {
      const marker = await lastEventId(servers[0]!);
      return servers.map((s, i) => {
        const count = Math.floor(n / servers.length) + (i < n % servers.length ? 1 : 0);
        const job: Omit<RawFollowerJob, 'followers' | 'counters'> = { origin: s.url, tenant: TENANT, marker, rampMs: RAMP_MS };
        return new Followers(ctx.cleanup, { count, workers: Math.ceil(WORKERS / servers.length), module: RAW_FOLLOWER, job });
      });
    },
  };
}

async function etcdTarget(ctx: BenchContext, etcd: Server): Promise<Target> {
  const writer = new Client(etcd.url);
  ctx.cleanup.add({ name: 'etcd writer', close: () => writer.destroy(), kill: () => void writer.destroy() });
  const put = (value: string): Promise<unknown> => expectJson(writer, 'POST', '/v3/kv/put', { key: b64(KEY), value: b64(value) }, 200);
  return {
    name: 'etcd',
    servers: [etcd],
    put,
    rearms: false,
    async follow(n) {
      const first = (await put('initial')) as { header: { revision: string } };
      const job: Omit<EtcdWatcherJob, 'followers' | 'counters'> = { origin: etcd.url, key: KEY, revision: String(Number(first.header.revision) + 1), rampMs: RAMP_MS };
      return [new Followers(ctx.cleanup, { count: n, workers: WORKERS, module: new URL('./lib/etcd-watcher-worker.ts', import.meta.url), job })];
    },
  };
}

const total = (fs: Followers<object>[], which: 'armed' | 'woken'): number => fs.reduce((sum, f) => sum + f[which], 0);

/**
 * Waits until counter `which` of all followers reaches `n`. Fails when more
 * than `allowedErrors` requests failed: connects refused or timed out while a
 * fleet arms are retried as an agent would (100 ms later) and only counted.
 */
async function waitTotal(ctx: BenchContext, fs: Followers<object>[], which: 'armed' | 'woken', n: number, timeoutMs: number, allowedErrors = 0): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (total(fs, which) < n) {
    const errors = errorCount(fs);
    if (errors > allowedErrors) {
      const first = (await Promise.all(fs.map((f) => f.stop()))).find((r) => r.firstError !== null)?.firstError;
      throw new TetherError('bench.badReply', `${errors - allowedErrors} follower requests failed; first: ${first ?? '?'}`);
    }
    if (performance.now() > deadline) throw new TetherError('bench.timeout', `${total(fs, which)} ${which} after ${timeoutMs} ms, want ${n}`);
    await sleep(5, undefined, { signal: ctx.signal });
  }
}

const errorCount = (fs: Followers<object>[]): number => fs.reduce((sum, f) => sum + f.errors, 0);

async function measure(ctx: BenchContext, target: Target, n: number, rounds: number): Promise<Measured> {
  try {
    return await measureOnce(ctx, target, n, rounds);
  } catch (err) {
    throw err instanceof TetherError ? new TetherError(err.code, `${target.name}: ${err.message}`, { cause: err }) : err;
  }
}

async function measureOnce(ctx: BenchContext, target: Target, n: number, rounds: number): Promise<Measured> {
  const rssBefore = target.servers.reduce((sum, s) => sum + rssBytes(s.pid), 0);
  const heapBefore = target.rearms ? await sumHeap(target.servers) : { old: Number.NaN, young: Number.NaN };
  const followers = await target.follow(n);
  let stopped = false;
  try {
    await waitTotal(ctx, followers, 'armed', n, ARM_TIMEOUT_MS, Number.POSITIVE_INFINITY);
    // A follower counts itself armed when it sends; on a loaded machine its connect may still be pending
    // (and time out, and be retried): with a gauge, wait until the servers hold every poll.
    const deadline = performance.now() + ARM_TIMEOUT_MS;
    while (target.waiting !== undefined && (await target.waiting()) < n) {
      if (performance.now() > deadline) throw new TetherError('bench.timeout', `${await target.waiting()} polls waiting after ${ARM_TIMEOUT_MS} ms, want ${n}`);
      await sleep(100, undefined, { signal: ctx.signal });
    }
    await sleep(SETTLE_MS, undefined, { signal: ctx.signal });
    const armingErrors = errorCount(followers);
    const rssWaiting = target.servers.reduce((sum, s) => sum + rssBytes(s.pid), 0);
    const heapWaiting = target.rearms ? await sumHeap(target.servers) : { old: Number.NaN, young: Number.NaN };
    const putAt = new Map<string, number>();
    const serverCpu = (): number => target.servers.reduce((sum, s) => sum + processCpuSeconds(s.pid), 0);
    let cpuFrom = 0;
    // This process: the follower threads (and the idle main thread): what the clients cost the shared cores.
    let clientFrom = process.cpuUsage();
    for (let i = 0; i <= rounds; i++) {
      const value = `wake-${i}`;
      if (i === 1) {
        cpuFrom = serverCpu();
        clientFrom = process.cpuUsage();
      }
      const t0 = epochNow();
      await target.put(value);
      if (i > 0) putAt.set(value, t0);
      await waitTotal(ctx, followers, 'woken', n * (i + 1), WAKE_TIMEOUT_MS, armingErrors);
      if (target.rearms) await waitTotal(ctx, followers, 'armed', n * (i + 2) + armingErrors, WAKE_TIMEOUT_MS, armingErrors);
      await sleep(SETTLE_MS, undefined, { signal: ctx.signal });
    }
    // The last round's settle time is idle (a timer tick at most): measured with the rounds.
    const cpuUsPerWake = ((serverCpu() - cpuFrom) * 1e6) / (rounds * n);
    const client = process.cpuUsage(clientFrom);
    const clientCpuUsPerWake = (client.user + client.system) / (rounds * n);
    stopped = true;
    const results = await Promise.all(followers.map((f) => f.stop()));
    const [samples, firsts, clients] = [[] as number[], [] as number[], [] as number[]];
    for (const [value, t0] of putAt) {
      // Each worker's two lists are in the same order, and merged in worker order.
      const times = results.flatMap((r) => r.wakes.get(value) ?? []);
      const first = results.flatMap((r) => r.wakes.get(firstByteKey(value)) ?? []);
      if (times.length !== n || first.length !== n) throw new TetherError('bench.badReply', `value ${value}: ${times.length} wakes, want ${n}`);
      times.forEach((at, i) => {
        samples.push(at - t0);
        firsts.push((first[i] as number) - t0);
        clients.push(at - (first[i] as number));
      });
    }
    return { wake: summarize(samples), firstByte: summarize(firsts), client: summarize(clients), bytesPerFollower: (rssWaiting - rssBefore) / n,
      heapPerFollower: (heapWaiting.old - heapBefore.old) / n,
      youngMb: heapWaiting.young / 2 ** 20,
      armingErrors,
      cpuUsPerWake,
      clientCpuUsPerWake,
    };
  } finally {
    if (!stopped) await Promise.allSettled(followers.map((f) => f.stop()));
  }
}

/** The systems to run, from env TETHER_BENCH_FOLLOWERS_SYSTEMS (e.g. "embedded" for a quick A/B): all three by default. */
const SYSTEMS = ['embedded', 'etcd2', 'etcd'] as const;
function systemsToRun(): ReadonlySet<string> {
  const named = (process.env.TETHER_BENCH_FOLLOWERS_SYSTEMS ?? '').split(/[\s,]+/).filter((a) => a !== '');
  const unknown = named.filter((s) => !(SYSTEMS as readonly string[]).includes(s));
  if (unknown.length > 0) throw new TetherError('bench.usage', `TETHER_BENCH_FOLLOWERS_SYSTEMS: unknown ${unknown.join(', ')} (known: ${SYSTEMS.join(', ')})`);
  return new Set(named.length > 0 ? named : SYSTEMS);
}

export const followers: Bench = async (ctx) => {
  const n = Math.round(numberOption((ctx.options as Record<string, string | undefined>).followers, 'followers', 10_000));
  const rounds = Math.round(numberOption(ctx.options.rounds, 'rounds', 5));
  const nodeArgs = registryNodeArgs(ctx.options);
  const allNodeArgs = [...deployedRegistryNodeArgs(), ...nodeArgs];
  const args = [...CONNECTION_FLAGS];
  const systems = systemsToRun();

  let te: Measured | undefined;
  if (systems.has('embedded')) {
    const embedded = await startTether(ctx.cleanup, { nodeArgs, args });
    te = await measure(ctx, await tetherTarget(ctx, [embedded]), n, rounds);
    await embedded.stop();
  }

  let t2: Measured | undefined;
  if (systems.has('etcd2')) {
    const shared = await startEtcd(ctx.cleanup);
    const onShared = { nodeArgs, args, store: 'etcd', etcdUrl: shared.url, etcdTransport: ctx.options['etcd-transport'] };
    const pair = [await startTether(ctx.cleanup, onShared), await startTether(ctx.cleanup, onShared)];
    t2 = await measure(ctx, await tetherTarget(ctx, pair), n, rounds);
    await Promise.all(pair.map((s) => s.stop()));
    await shared.stop();
  }

  let e: Measured | undefined;
  if (systems.has('etcd')) {
    const etcd = await startEtcd(ctx.cleanup);
    e = await measure(ctx, await etcdTarget(ctx, etcd), n, rounds);
    await etcd.stop();
  }

  const row = (name: string, m: Measured): string[] => [
    name,
    fmt(m.wake.p50),
    fmt(m.wake.p99),
    fmt(m.wake.max),
    `${fmt(m.firstByte.p99)} / ${fmt(m.client.p99, 2)}`,
    fmt(m.bytesPerFollower / 1024, 1),
    Number.isNaN(m.heapPerFollower) ? '-' : `${fmt(m.heapPerFollower / 1024, 1)} / ${fmt(m.youngMb, 0)}`,
    `${fmt(m.cpuUsPerWake, 1)} / ${fmt(m.clientCpuUsPerWake, 1)}`,
    String(m.armingErrors),
  ];
  const vs = (name: string, m: Measured, base: Measured): string[] => [
    name,
    fmt(ratio(m.wake.p50, base.wake.p50)),
    fmt(ratio(m.wake.p99, base.wake.p99)),
    fmt(ratio(m.wake.max, base.wake.max)),
    fmt(ratio(m.firstByte.p99, base.firstByte.p99)),
    fmt(ratio(m.bytesPerFollower, base.bytesPerFollower)),
    '',
    fmt(ratio(m.cpuUsPerWake, base.cpuUsPerWake)),
  ];
  const rows: string[][] = [];
  if (te !== undefined) rows.push(row('tether, embedded (SQLite)', te));
  if (t2 !== undefined) rows.push(row('tether, 2 servers over one etcd', t2));
  if (e !== undefined) rows.push(row('etcd, watch streams', e));
  if (e !== undefined && te !== undefined) rows.push(vs('embedded/etcd', te, e));
  if (e !== undefined && t2 !== undefined) rows.push(vs('2 servers/etcd', t2, e));
  process.stdout.write(`registry node arguments (deployed, then --registry-node-args): ${allNodeArgs.length > 0 ? allNodeArgs.join(' ') : '(none)'}\n`);
  printTable(
    `followers: one write -> ${n} waiting followers' replies parsed, ${rounds} rounds after 1 warm-up; memory = server RSS growth with all waiting / ${n}`,
    ['system', 'p50 ms', 'p99 ms', 'max ms', 'p99 to first byte / client ms', 'KB per follower', 'old-space KB per follower / young gen MB', 'CPU us per follower-wake: servers / clients', 'retried connects'],
    rows,
  );
  if (te === undefined || t2 === undefined || e === undefined) return;
  const met = (ok: boolean): string => (ok ? 'met' : 'MISSED');
  process.stdout.write(
    `targets: p99 <= ${TARGETS.p99Ms} ms: embedded ${met(te.wake.p99 <= TARGETS.p99Ms)}, 2 servers ${met(t2.wake.p99 <= TARGETS.p99Ms)}; ` +
      `<= ${TARGETS.bytesPerFollower / 1024} KB per follower: embedded ${met(te.bytesPerFollower <= TARGETS.bytesPerFollower)}, 2 servers ${met(t2.bytesPerFollower <= TARGETS.bytesPerFollower)}\n`,
  );
  printResult('followers', {
    followers: n,
    rounds,
    embedded_p50_ms: round(te.wake.p50, 1),
    embedded_p99_ms: round(te.wake.p99, 1),
    embedded_first_byte_p99_ms: round(te.firstByte.p99, 1),
    embedded_kb_per_follower: round(te.bytesPerFollower / 1024, 2),
    embedded_heap_kb_per_follower: round(te.heapPerFollower / 1024, 2),
    embedded_cpu_us_per_wake: round(te.cpuUsPerWake, 1),
    embedded_client_cpu_us_per_wake: round(te.clientCpuUsPerWake, 1),
    etcd2_p50_ms: round(t2.wake.p50, 1),
    etcd2_p99_ms: round(t2.wake.p99, 1),
    etcd2_first_byte_p99_ms: round(t2.firstByte.p99, 1),
    etcd2_kb_per_follower: round(t2.bytesPerFollower / 1024, 2),
    etcd2_heap_kb_per_follower: round(t2.heapPerFollower / 1024, 2),
    etcd2_cpu_us_per_wake: round(t2.cpuUsPerWake, 1),
    etcd_p50_ms: round(e.wake.p50, 1),
    etcd_p99_ms: round(e.wake.p99, 1),
    etcd_first_byte_p99_ms: round(e.firstByte.p99, 1),
    etcd_kb_per_follower: round(e.bytesPerFollower / 1024, 2),
    etcd_cpu_us_per_wake: round(e.cpuUsPerWake, 1),
    etcd_client_cpu_us_per_wake: round(e.clientCpuUsPerWake, 1),
  });
};
