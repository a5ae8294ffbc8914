import { TetherError } from '../src/lib/errors.js';
import { numberOption, registryNodeArgs, type Bench, type BenchContext } from './lib/bench.js';
import { groupCommitLine, measureGroupCommit } from './lib/queues-group-commit.js';
import { inProcessLine, measureInProcess } from './lib/queues-inprocess.js';
import { closedLoop, type LoopReport } from './lib/queues-load.js';
import { redisTarget } from './lib/queues-redis.js';
import { LANES, type QueueTarget } from './lib/queues-targets.js';
import { tetherTarget } from './lib/queues-tether.js';
import { redisVersion, startRedis } from './lib/redis.js';
import { summarize, type Summary } from './lib/stats.js';
import { fmt, percent, printResult, printTable, ratio, round, warnIfBusy } from './lib/report.js';
import { startTether } from './lib/tether.js';

/**
 * Cloud Queues throughput and latency: Tether (`tether registry` from dist/,
 * on SQLite, then on an etcd it starts) against Redis streams (Debian's
 * redis-server, AOF fsynced on every write), the same workloads driven with
 * the same client concurrency (32 lanes, one request in flight each):
 *   post b1 / b10   messages posted per second, 1 or 10 per request
 *   consume         claim (limit 10) + bulk delete; Redis XREADGROUP COUNT 10 + XACK + XDEL
 *   post->claimed   a waiting consumer (claim wait=; XREADGROUP BLOCK), p50/p99
 *   pages           pub-sub observers paging 10 at a time with markers (XRANGE from an id)
 * All servers run at once and each workload runs on each in turn, so that
 * the windows a ratio compares are close in time on a machine whose load
 * drifts. First it prints the SQLite store's group commit in isolation and the same
 * workloads on a QueueService in this process (no HTTP), so the HTTP figures
 * can be split into domain + store and the request path.
 */

const TARGETS = { postB10: 50_000, consume: 5_000, p99Ms: 5, pages: 5_000 };
const FEED_MESSAGES = 2_000;
const PARK_MS = 2;

interface Figures {
  name: string;
  postB1: LoopReport;
  postB10: LoopReport;
  consume: LoopReport;
  latency: Summary;
  pages: LoopReport;
}

/**
 * Every workload on every target in turn (Tether SQLite, Redis, Tether etcd
 * for post b1, then for post b10, ...), all servers up at once: on a shared
 * machine whose load drifts over minutes, the windows compared in a ratio
 * are then seconds apart, not a minute.
 */
async function measureAll(ctx: BenchContext, targets: QueueTarget[], warmupMs: number, durationMs: number, rounds: number): Promise<Figures[]> {
  const loop = (t: QueueTarget, step: (lane: number) => Promise<number>): Promise<LoopReport> =>
    closedLoop({ server: t.server, lanes: LANES, step, warmupMs, durationMs, signal: ctx.signal });
  const each = async <T>(work: (t: QueueTarget) => Promise<T>): Promise<T[]> => {
    const out: T[] = [];
    for (const t of targets) {
      ctx.signal.throwIfAborted();
      out.push(await work(t));
    }
    return out;
  };
  await each((t) => t.setup());
  const postB1 = await each((t) => loop(t, async (lane) => (await t.post(lane, 1), 1)));
  const postB10 = await each((t) => loop(t, async (lane) => (await t.post(lane, 10), 10)));
  const consume = await each((t) => loop(t, (lane) => t.consume(lane)));
  const latency = await each(async (t) => {
    const samples: number[] = [];
    for (let i = 0; i < rounds + 20 && !ctx.signal.aborted; i++) {
      const ms = await t.postToClaimed(PARK_MS);
      if (i >= 20) samples.push(ms); // the first rounds warm the path up
    }
    return summarize(samples);
  });
  await each((t) => t.fillFeed(FEED_MESSAGES));
  const pages = await each((t) => {
    const cursors: Array<string | null> = new Array(LANES).fill(null);
    return loop(t, async (lane) => {
      let next = await t.page(lane, cursors[lane] ?? null);
      if (next === null) next = await t.page(lane, null); // past the end: the observer starts over
      cursors[lane] = next;
      return 1;
    });
  });
  return targets.map((t, i) => ({
    name: t.name,
    postB1: postB1[i]!,
    postB10: postB10[i]!,
    consume: consume[i]!,
    latency: latency[i]!,
    pages: pages[i]!,
  }));
}

function loopRows(f: Figures): string[][] {
  const row = (what: string, r: LoopReport, unit: string): string[] => [
    f.name, what, `${fmt(r.perSecond, 0)} ${unit}${r.drained ? ' (drained)' : ''}`, fmt(r.latency.p50), fmt(r.latency.p99),
    String(r.errors), fmt((r.cpu.server / r.perSecond) * 1e6, 1), percent(r.cpu.client), percent(r.cpu.server), percent(r.cpu.other),
  ];
  return [
    row('post b1', f.postB1, 'msg/s'),
    row('post b10', f.postB10, 'msg/s'),
    row('consume', f.consume, 'msg/s'),
    [f.name, 'post->claimed', `${f.latency.n} rounds`, fmt(f.latency.p50), fmt(f.latency.p99), '0', '', '', '', ''],
    row('pages', f.pages, 'pages/s'),
  ];
}

const errorsOf = (f: Figures): number => f.postB1.errors + f.postB10.errors + f.consume.errors + f.pages.errors;
const firstErrorOf = (f: Figures): string | null =>
  f.postB1.firstError ?? f.postB10.firstError ?? f.consume.firstError ?? f.pages.firstError;

export const queues: Bench = async (ctx) => {
  const { options } = ctx;
  const durationMs = numberOption(options.duration, 'duration', 5) * 1000;
  const warmupMs = numberOption(options.warmup, 'warmup', 1) * 1000;
  const rounds = numberOption(options.rounds, 'rounds', 300);
  const stores = options.store === undefined ? ['sqlite', 'etcd'] : [options.store];

  process.stdout.write(`node ${process.version}; redis-server ${await redisVersion()}\n`);
  for (const c of [1, LANES]) process.stdout.write(`${groupCommitLine(await measureGroupCommit(c, 1000, 1))}\n`);
  for (const f of await measureInProcess(2000)) process.stdout.write(`${inProcessLine(f)}\n`);

  const targets: QueueTarget[] = [];
  const tether = async (store: string): Promise<void> => {
    targets.push(tetherTarget(`tether ${store}`, await startTether(ctx.cleanup, { store, nodeArgs: registryNodeArgs(options) })));
  };
  let figures: Figures[];
  try {
    await tether(stores[0] as string);
    const redisServer = await startRedis(ctx.cleanup);
    process.stdout.write(`redis: ${redisServer.durability}\n`);
    targets.push(redisTarget(redisServer));
    for (const store of stores.slice(1)) await tether(store);
    figures = await measureAll(ctx, targets, warmupMs, durationMs, rounds);
  } finally {
    for (const t of targets) {
      await t.close();
      await t.server.stop();
    }
  }

  printTable(
    `queues: ${LANES} lanes (one request in flight each), ${durationMs / 1000} s windows after ${warmupMs / 1000} s warm-up; post->claimed: ${rounds} rounds, consumer parked ${PARK_MS} ms before the post`,
    // Server CPU per message (or page) is the figure a loaded machine distorts least: compare it when rates are noisy.
    ['system', 'workload', 'rate', 'p50 ms', 'p99 ms', 'errors', 'server CPU us/unit', 'CPU: client', 'server', 'other procs'],
    figures.flatMap(loopRows),
  );
  for (const f of figures) for (const r of [f.postB1, f.postB10, f.consume, f.pages]) warnIfBusy(f.name, r.cpu);
  const redis = figures.find((f) => f.name === 'redis') as Figures;
  const vsRedis = (f: Figures): { post_b1: number; post_b10: number; consume: number; p99: number; pages: number } => ({
    post_b1: ratio(f.postB1.perSecond, redis.postB1.perSecond),
    post_b10: ratio(f.postB10.perSecond, redis.postB10.perSecond),
    consume: ratio(f.consume.perSecond, redis.consume.perSecond),
    // Latency: Redis over Tether, so that above 1 means Tether is better, as for the rates.
    p99: ratio(redis.latency.p99, f.latency.p99),
    pages: ratio(f.pages.perSecond, redis.pages.perSecond),
  });
  for (const f of figures.filter((x) => x !== redis)) {
    const r = vsRedis(f);
    process.stdout.write(
      `${f.name}/redis: post b1 ${fmt(r.post_b1)}, post b10 ${fmt(r.post_b10)}, consume ${fmt(r.consume)}, ` +
        `post->claimed p99 redis/${f.name.split(' ')[0]} ${fmt(r.p99)}, pages ${fmt(r.pages)}\n`,
    );
  }
  const t = figures[0] as Figures;
  const met = (ok: boolean): string => (ok ? 'met' : 'MISSED');
  process.stdout.write(
    `targets (${t.name}): post b10 >= ${TARGETS.postB10}/s ${met(t.postB10.perSecond >= TARGETS.postB10)}, ` +
      `consume >= ${TARGETS.consume}/s ${met(t.consume.perSecond >= TARGETS.consume)}, ` +
      `post->claimed p99 <= ${TARGETS.p99Ms} ms ${met(t.latency.p99 <= TARGETS.p99Ms)}, ` +
      `pages >= ${TARGETS.pages}/s ${met(t.pages.perSecond >= TARGETS.pages)}\n`,
  );
  const metrics: Record<string, number | string> = {};
  for (const f of figures) {
    const k = f.name.replace(' ', '_');
    Object.assign(metrics, {
      [`${k}_post_b1`]: Math.round(f.postB1.perSecond),
      [`${k}_post_b10`]: Math.round(f.postB10.perSecond),
      [`${k}_consume`]: Math.round(f.consume.perSecond),
      [`${k}_p50_ms`]: round(f.latency.p50),
      [`${k}_p99_ms`]: round(f.latency.p99),
      [`${k}_pages`]: Math.round(f.pages.perSecond),
    });
  }
  const errors = figures.reduce((a, f) => a + errorsOf(f), 0);
  printResult('queues', { ...metrics, errors });
  if (errors > 0) {
    const first = figures.map(firstErrorOf).find((e) => e !== null);
    throw new TetherError('bench.errors', `queues: ${errors} failed requests (first: ${first})`);
  }
};
