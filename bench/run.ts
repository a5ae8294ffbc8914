import { parseArgs } from 'node:util';
import { hasCode, TetherError } from '../src/lib/errors.js';
import { agent } from './agent.js';
import { etcdOps } from './etcd-ops.js';
import { followers } from './followers.js';
import { heartbeats } from './heartbeats.js';
import { benchOptions, type Bench, type BenchContext } from './lib/bench.js';
import { Cleanup } from './lib/cleanup.js';
import { etcdVersion } from './lib/etcd.js';
import { machineLine } from './lib/report.js';
import { propagation, propagationOptions } from './propagation.js';
import { queues } from './queues.js';
import { scale } from './scale-costs.js';
import { staleBuildWarning } from './lib/tether.js';
import { wakeup } from './wakeup.js';

const benches: Record<string, Bench> = { heartbeats, wakeup, agent, propagation, queues, followers, scale, 'etcd-ops': etcdOps };

const HELP = `usage: npm run bench -- [NAME...] [options]

Runs each named bench (default: all: ${Object.keys(benches).join(', ')}) against
\`tether registry\` (dist/, as a child process) and a single-member etcd, both
on loopback, and prints a table plus one \`RESULT <name> key=value...\` line.

options:
  --store sqlite|etcd        the registry's store (default sqlite; etcd starts an etcd for it)
  --etcd-transport grpc|gateway  with --store etcd (heartbeats, propagation): how the registry reaches etcd
  --duration S               heartbeats: measured window (10)
  --warmup S                 heartbeats: warm-up before the window (1)
  --services N               heartbeats: chains (services / leases) (200)
  --shape WxC[/F],...        heartbeats: workers x connections [/ in flight per worker] (1x32)
  --rounds N                 wakeup: measured rounds after 50 warm-up rounds (1000)
  --delay-ms MS              wakeup: pause between the long-poll being sent and the PUT (2)
  --registry-node-args=ARGS  extra node flags for the registry (note the =), e.g.
                             --registry-node-args="--cpu-prof --cpu-prof-dir=/tmp/prof"

heartbeats (bench/heartbeats.ts) compares with etcd's lease keep-alives through its JSON gateway
  (ratio) and over gRPC (ratio_grpc), same shape; env TETHER_BENCH_GRPC_STREAMS=shared sends the gRPC
  keep-alives on one stream (default: one stream per keep-alive in flight).

agent (bench/agent.ts) reads: --services N (500), --rounds N start-ups (3),
  --duration S steady-state window (30), --warmup S settle after all are registered (120: V8's JIT warm-up);
  env TETHER_BENCH_AGENT_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/agentprof" profiles the agent.

propagation (bench/propagation.ts) reads: --rounds N one-agent changes after 50 warm-up (1000),
  --fanout-rounds N (200), --followers N simulated long-poll followers (500),
  --detect watch|poll how the file change is seen (watch: fs.watch + read; poll: 1 ms reads),
  --pause-ms MS between a change being seen and the next one, one-agent and etcd rounds (0);
  env TETHER_BENCH_AGENT_NODE_ARGS profiles its agents too.

followers (bench/followers.ts): one write wakes --followers N (10000) waiting followers, on Tether
  embedded, on two Tether servers over one etcd, and as etcd watch streams; --rounds N wakes (5).

queues (bench/queues.ts) runs Tether on SQLite, Redis streams (redis-server, AOF fsync always)
  and Tether on etcd (--store picks one Tether store); reads --duration S per workload (5),
  --warmup S (1), --rounds N post->claimed rounds (300).

scale (bench/scale-costs.ts): server CPU per request from /proc (session heartbeat, registration,
  list pages, configuration PUT, long-poll armed / woken), event bytes, memory and fds per waiting
  long-poll, for docs/scale.md; one SQLite server and two servers over one etcd (--store picks one);
  reads --services N listed (1000), --followers N long-polls held (1000).

etcd-ops (bench/etcd-ops.ts): etcd's CPU per operation through its JSON gateway and through gRPC
  (keep-alive, put, nested compare-and-puts, reads, watch events); --duration S per row (3).

Exit status: 0 when every bench ran without errors, 1 when one failed, 2 on a usage error.`;

async function main(argv: string[]): Promise<number> {
  const { values: options, positionals } = parseArgs({ args: argv, options: { ...benchOptions, ...propagationOptions }, strict: true, allowPositionals: true });
  if (options.help === true) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const names = positionals.length > 0 ? positionals : Object.keys(benches);
  const unknown = names.filter((n) => !(n in benches));
  if (unknown.length > 0) throw new TetherError('bench.usage', `unknown bench ${unknown.join(', ')} (known: ${Object.keys(benches).join(', ')})`);

  const cleanup = new Cleanup();
  const ac = new AbortController();
  onSignals(cleanup, ac);
  process.stdout.write(`${machineLine(await etcdVersion(), options.store ?? 'sqlite')}\n`);
  const stale = staleBuildWarning();
  if (stale !== null) process.stderr.write(`${stale}\n`);

  const ctx: BenchContext = { cleanup, signal: ac.signal, options };
  let failed = 0;
  for (const name of names) {
    try {
      await (benches[name] as Bench)(ctx);
    } catch (err) {
      if (hasCode(err, 'bench.usage')) throw err;
      failed++;
      process.stderr.write(`bench ${name} FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
    } finally {
      await cleanup.runAll();
    }
  }
  // Interrupted: the signal handler exits 130 once its cleanup is done.
  if (ac.signal.aborted) return new Promise<never>(() => {});
  return failed > 0 ? 1 : 0;
}

/** First SIGINT/SIGTERM: abort, clean up, exit 130; a second one exits at once (the exit hook still kills children). */
function onSignals(cleanup: Cleanup, ac: AbortController): void {
  const handler = (): void => {
    if (ac.signal.aborted) process.exit(130);
    ac.abort(new TetherError('bench.interrupted', 'interrupted'));
    process.stderr.write('bench: interrupted, stopping servers\n');
    void cleanup.runAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // Our usage errors, and parseArgs' (ERR_PARSE_ARGS_*), exit 2.
    const usage = hasCode(err, 'bench.usage') || String((err as { code?: unknown } | null)?.code).startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(usage ? 2 : 1);
  },
);
