import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { Server } from './child.js';
import { Cleanup } from './cleanup.js';
import { startTether } from './tether.js';
import { tetherTarget } from './queues-tether.js';
import { LANES, type QueueTarget } from './queues-targets.js';

/**
 * Server CPU per request of the queues workloads, A/B between builds, for
 * tuning the request path on a shared machine (wall-clock rates there are
 * noise; the server's own CPU per unit of work is not, much):
 *
 *   node --import tsx bench/lib/queues-cpu.ts MAIN.js[,MAIN2.js] [rounds] [units]
 *
 * Each MAIN.js is a `tether` bundle (`node scripts/bundle.mjs OUT` writes
 * OUT/cli/main.js). Every round starts each build's `registry` on a fresh
 * SQLite dir, in alternating order, and drives post b10, consume (claim 10 +
 * one delete per message by claim id) and pages from 32 keep-alive lanes: a
 * warm-up, then a fixed number of units, with the server's utime+stime read
 * from /proc around them. `QCPU_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR"`
 * passes node flags to the servers (a profile is written when they stop).
 */

interface Workload {
  name: string;
  unit: string;
  /** One step of a lane; resolves with the units it did. */
  step(t: QueueTarget, lane: number, cursors: Array<string | null>): Promise<number>;
}

const ALL: Workload[] = [
  { name: 'post b10', unit: 'request', step: async (t, lane) => (await t.post(lane, 10), 1) },
  { name: 'consume', unit: 'message', step: (t, lane) => t.consume(lane) },
  {
    name: 'pages',
    unit: 'page',
    step: async (t, lane, cursors) => {
      let next = await t.page(lane, cursors[lane] ?? null);
      if (next === null) next = await t.page(lane, null);
      cursors[lane] = next;
      return 1;
    },
  },
];

/** `QCPU_ONLY=consume` runs one workload (a profile of one). */
const WORKLOADS = ALL.filter((w) => process.env.QCPU_ONLY === undefined || w.name === process.env.QCPU_ONLY);

function startRegistry(cleanup: Cleanup, main: string): Promise<Server> {
  const nodeArgs = (process.env.QCPU_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  return startTether(cleanup, { main, nodeArgs });
}

/**
 * `QCPU_PERF=PREFIX`: `perf record` (CPU-time samples, call graphs) of the
 * server over each measured window, into PREFIX.<workload>; run the servers
 * with `QCPU_NODE_ARGS=--perf-basic-prof` so JIT frames get names.
 */
function startPerf(pid: number, workload: string): (() => Promise<void>) | undefined {
  const prefix = process.env.QCPU_PERF;
  if (prefix === undefined) return undefined;
  const out = `${prefix}.${workload.replace(/ /g, '')}`;
  const child = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', '2000', '-g', '-p', String(pid), '-o', out], { stdio: 'ignore' });
  return () =>
    new Promise<void>((done) => {
      child.once('exit', () => done());
      child.kill('SIGINT');
    });
}

/** Runs lanes until `units` are done; resolves with the units done (a step may overshoot). */
async function runUnits(t: QueueTarget, w: Workload, units: number): Promise<number> {
  let done = 0;
  const cursors: Array<string | null> = new Array(LANES).fill(null);
  const lane = async (i: number): Promise<void> => {
    while (done < units) {
      const n = await w.step(t, i, cursors);
      if (n === 0) return;
      done += n;
    }
  };
  await Promise.all(Array.from({ length: LANES }, (_, i) => lane(i)));
  return done;
}

/** One for the whole run: each adds a process 'exit' hook. */
const cleanup = new Cleanup();

async function measureBuild(main: string, units: number): Promise<number[]> {
  try {
    const server = await startRegistry(cleanup, main);
    const t = tetherTarget(main, server);
    await t.setup();
    await t.fillFeed(2_000);
    // Consume eats what post b10 left; run alone, it needs messages posted first.
    if (WORKLOADS[0]?.name !== 'post b10') await runUnits(t, ALL[0] as Workload, units / 5);
    const out: number[] = [];
    for (const w of WORKLOADS) {
      await runUnits(t, w, Math.max(200, units / 5));
      const perf = startPerf(server.pid, w.name);
      const c0 = server.cpuSeconds();
      const done = await runUnits(t, w, units);
      out.push(((server.cpuSeconds() - c0) * 1e6) / done);
      await perf?.();
    }
    await t.close();
    return out;
  } finally {
    await cleanup.runAll();
  }
}

async function main(): Promise<void> {
  const mains = (process.argv[2] ?? 'dist/cli/main.js').split(',').map((m) => resolve(m));
  const rounds = Number(process.argv[3] ?? 3);
  const units = Number(process.argv[4] ?? 3_000);
  const results = mains.map(() => WORKLOADS.map(() => [] as number[]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? mains.map((_, i) => i) : mains.map((_, i) => mains.length - 1 - i);
    for (const i of order) {
      const us = await measureBuild(mains[i] as string, units);
      us.forEach((v, k) => results[i]?.[k]?.push(v));
      process.stdout.write(`round ${r + 1} ${mains[i]}: ${us.map((v, k) => `${WORKLOADS[k]?.name} ${v.toFixed(0)} us/${WORKLOADS[k]?.unit}`).join(', ')}\n`);
    }
  }
  for (const [i, m] of mains.entries()) {
    const line = WORKLOADS.map((w, k) => {
      const v = [...(results[i]?.[k] ?? [])].sort((a, b) => a - b);
      return `${w.name} median ${v[Math.floor(v.length / 2)]?.toFixed(0)} (${v[0]?.toFixed(0)}-${v[v.length - 1]?.toFixed(0)}) us/${w.unit}`;
    });
    process.stdout.write(`${m}: ${line.join('; ')}\n`);
  }
}

await main();
