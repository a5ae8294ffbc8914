import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Dispatcher } from 'undici';
import { request } from 'undici';
import { TetherError } from '../../src/lib/errors.js';
import { startServer, type Server } from './child.js';
import type { Cleanup } from './cleanup.js';
import { expectJson } from './http.js';

/**
 * The tether side of the agent bench: `tether agent` as a child process,
 * the registry's event feed as the stopwatch, and the checks that every
 * registration happened and stayed.
 */

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface AgentProcess {
  server: Server;
  /** The local API, from the "agent started" log line. */
  api: string;
  /** Epoch ms of the "agent started" log record (pino `time`). */
  startedAt: number;
  logPath: string;
}

type LogRecord = { level?: string; time?: number; msg?: string; api?: string; service?: string; err?: string } & Record<string, unknown>;

/** The agent's pino records so far (stdout and stderr share the file); lines that are not JSON are skipped. */
export function agentLog(logPath: string): LogRecord[] {
  let text = '';
  try {
    text = readFileSync(logPath, 'utf8');
  } catch {
    return [];
  }
  const records: LogRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      records.push(JSON.parse(line) as LogRecord);
    } catch {
      // A line being written right now; the next read has it whole.
    }
  }
  return records;
}

/**
 * Spawns `node [nodeArgs] dist/cli/main.js agent --config manifest` in `dir`
 * (its log in `dir/server.log`) and resolves once it logged "agent started".
 * The spawn itself happens synchronously in this call, so a timestamp taken
 * just before it is the spawn time. Fails (TetherError `bench.serverStart`)
 * when it exits or does not start within 15 s; `cleanup` stops it (SIGTERM:
 * it deregisters everything) if the caller does not.
 */
export async function spawnAgent(
  cleanup: Cleanup,
  dir: string,
  manifest: string,
  nodeArgs: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<AgentProcess> {
  const logPath = join(dir, 'server.log');
  const started = (): LogRecord | undefined => agentLog(logPath).find((r) => r.msg === 'agent started');
  const argv = [process.execPath, ...nodeArgs, MAIN, 'agent', '--config', manifest];
  // env(1) execs node in place: the pid watched is still the agent's.
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const server = await startServer(cleanup, {
    name: 'tether agent',
    command: assignments.length > 0 ? 'env' : process.execPath,
    args: assignments.length > 0 ? [...assignments, ...argv] : argv.slice(1),
    dir,
    url: 'agent',
    ready: async () => started() !== undefined,
  });
  const rec = started() as LogRecord;
  return { server, api: String(rec.api), startedAt: Number(rec.time), logPath };
}

/** Registration trouble in the agent's log: errors, and the syncer's "registry call failed" warnings. */
export function registrationProblems(logPath: string): string[] {
  return agentLog(logPath)
    .filter((r) => r.level === 'error' || r.level === 'fatal' || r.msg === 'registry call failed; will retry')
    .map((r) => `${r.msg ?? '?'}${r.service === undefined ? '' : ` (${r.service})`}${r.err === undefined ? '' : `: ${r.err}`}`);
}

interface EventsPage {
  values: { id: string; type: string; payload: { id?: string } }[];
}

/** The id of the tenant's newest event after writing one (a configuration value): the marker to follow from. */
export async function takeMarker(d: Dispatcher, tenant: string): Promise<string> {
  await expectJson(d, 'PUT', `/v1.0/${tenant}/configuration/bench-marker`, { value: String(Date.now()) }, 204);
  const page = (await expectJson(d, 'GET', `/v1.0/${tenant}/events?limit=1000`, undefined, 200)) as EventsPage;
  const last = page.values[page.values.length - 1];
  if (last === undefined) throw new TetherError('bench.badReply', `tenant ${tenant}: no event after a configuration write`);
  return last.id;
}

export interface Joins {
  /** performance.now() when the reply carrying the first service.join arrived. */
  first: number;
  /** ... and the one that completed `n` distinct services. */
  all: number;
  /** Long-poll replies it took. */
  polls: number;
}

/**
 * Follows `GET /events?marker=M&type=service.join&wait=30` from `marker`
 * until `n` distinct services have joined: the request is in flight before
 * the agent starts, so the first reply arrives when the first join commits.
 * Rejects when `signal` aborts (the caller's deadline) or on a bad reply.
 */
export async function followJoins(d: Dispatcher, tenant: string, marker: string, n: number, signal: AbortSignal): Promise<Joins> {
  const seen = new Set<string>();
  let first = Number.NaN;
  let polls = 0;
  for (let m = marker; seen.size < n; polls++) {
    signal.throwIfAborted();
    const reply = expectJson(d, 'GET', `/v1.0/${tenant}/events?marker=${m}&type=service.join&limit=1000&wait=30`, undefined, 200);
    const page = (await abortable(reply, signal)) as EventsPage;
    for (const e of page.values) seen.add(e.payload.id ?? e.id);
    if (page.values.length > 0 && Number.isNaN(first)) first = performance.now();
    m = page.values[page.values.length - 1]?.id ?? m;
  }
  return { first, all: performance.now(), polls };
}

/** `p`, or the signal's reason once it aborts (the request itself is left to finish on its own). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** How many services the registry lists for `tenant`. */
export async function registryServiceCount(d: Dispatcher, tenant: string): Promise<number> {
  const page = (await expectJson(d, 'GET', `/v1.0/${tenant}/services?limit=1000`, undefined, 200)) as { values: unknown[]; metadata?: { next_marker?: string | null } };
  if (page.metadata?.next_marker) throw new TetherError('bench.badReply', `tenant ${tenant} lists more than 1000 services`);
  return page.values.length;
}

export interface AgentCounters {
  registered: number;
  healthy: number;
  probes: number;
  heartbeatsOk: number;
  heartbeatsFailed: number;
  memory: AgentHeap;
}

/** V8's heap as the agent's /metrics shows it (prom-client's standard `nodejs_heap_*` series), MB. */
export interface AgentHeap {
  heapUsedMb: number;
  heapTotalMb: number;
  /** The young generation's size (both semi-spaces): what V8 grew it to, used or not. */
  newSpaceMb: number;
  oldSpaceMb: number;
  oldUsedMb: number;
  externalMb: number;
}

/**
 * The agent's own view, from its local API: services registered and healthy
 * (/v1/status), probe results and session heartbeats so far (/metrics).
 * Costs the agent some CPU, so call it outside a measured window.
 */
export async function agentCounters(api: string): Promise<AgentCounters> {
  const status = await request(`${api}/v1/status`);
  const { services } = (await status.body.json()) as { services: { registered: boolean; health: string }[] };
  const metrics = await request(`${api}/metrics`);
  const text = await metrics.body.text();
  const sum = (name: string, labels = ''): number =>
    text
      .split('\n')
      .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(labels))
      .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  const mb = (name: string, labels = ''): number => sum(name, labels) / 2 ** 20;
  return {
    registered: services.filter((s) => s.registered).length,
    healthy: services.filter((s) => s.health === 'healthy').length,
    probes: sum('tether_probe_results_total'),
    heartbeatsOk: sum('tether_heartbeats_total', 'result="ok"'),
    heartbeatsFailed: sum('tether_heartbeats_total', 'result="error"'),
    memory: {
      heapUsedMb: mb('nodejs_heap_size_used_bytes'),
      heapTotalMb: mb('nodejs_heap_size_total_bytes'),
      newSpaceMb: mb('nodejs_heap_space_size_total_bytes', 'space="new"'),
      oldSpaceMb: mb('nodejs_heap_space_size_total_bytes', 'space="old"'),
      oldUsedMb: mb('nodejs_heap_space_size_used_bytes', 'space="old"'),
      externalMb: mb('nodejs_external_memory_bytes'),
    },
  };
}

/** The unit the agent's deployment files are checked against: the node arguments of its ExecStart are the agent's V8 settings. */
const AGENT_UNIT = fileURLToPath(new URL('../../systemd/tether.service', import.meta.url));

/**
 * The node flags the agent runs with where it is deployed: the `--` words
 * right after `node` in systemd/tether.service's ExecStart (the Kubernetes
 * sidecar's command has the same, a test holds them equal), so that the bench
 * measures the agent as it runs there. Empty when ExecStart runs no `node`.
 */
export function deployedAgentNodeArgs(unitPath = AGENT_UNIT): string[] {
  const line = readFileSync(unitPath, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith('ExecStart='));
  const words = (line ?? '').slice('ExecStart='.length).split(/\s+/);
  const at = words.findIndex((w) => w === 'node' || w.endsWith('/node'));
  if (at < 0) return [];
  const rest = words.slice(at + 1);
  const end = rest.findIndex((w) => !w.startsWith('--'));
  return end < 0 ? rest : rest.slice(0, end);
}

/**
 * The variables the agent's unit sets (`Environment=NAME=VALUE` lines, e.g.
 * glibc's malloc settings), for the bench to run the
 * agent with; the Kubernetes sidecar sets the same (a test holds them equal).
 */
export function deployedAgentEnv(unitPath = AGENT_UNIT): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of readFileSync(unitPath, 'utf8').split('\n')) {
    const m = /^Environment="?([A-Za-z_][A-Za-z0-9_]*)=([^"]*)"?$/.exec(raw.trim());
    if (m) env[m[1] as string] = m[2] as string;
  }
  return env;
}
