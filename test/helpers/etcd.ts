import { afterAll, beforeAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { freePort } from './ports.js';
import { spawnTether, type RegistryProc } from './procs.js';
import { createTempDir, type TempDir } from './tmp.js';

/** Debian's etcd-server (`.ci/run` installs it); ETCD_BIN overrides. Tests fail, never skip, without it. */
const ETCD = process.env.ETCD_BIN ?? '/usr/bin/etcd';
const START_TIMEOUT_MS = 20_000;

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  /** SIGKILLs the member (its data stays). */
  kill(): Promise<void>;
  /** Starts a killed member again on its data. */
  restart(): Promise<void>;
  /** SIGSTOPs the member: its connections stay open but nothing answers (a hung or partitioned member). */
  pause(): void;
  /** SIGCONTs a paused member. */
  resume(): void;
}

export interface EtcdCluster {
  endpoints: string[];
  members: EtcdMember[];
  /** Kills every member and removes the data. */
  stop(): Promise<void>;
}

/**
 * An etcd cluster of `size` members on free loopback ports, data in a temp
 * directory; resolves once every member reports healthy. `--max-txn-ops` is
 * raised as the README tells operators to (a session expiry is one txn).
 */
export async function startEtcd(size = 1, opts: { maxTxnOps?: number; maxRequestBytes?: number } = {}): Promise<EtcdCluster> {
  const dir = await createTempDir('etcd');
  const token = `tether-test-${randomBytes(4).toString('hex')}`;
  const specs: Array<{ name: string; clientUrl: string; peerUrl: string }> = [];
  for (let i = 0; i < size; i++) {
    specs.push({ name: `m${i}`, clientUrl: `http://127.0.0.1:${await freePort()}`, peerUrl: `http://127.0.0.1:${await freePort()}` });
  }
  const initialCluster = specs.map((s) => `${s.name}=${s.peerUrl}`).join(',');
  const procs = new Map<string, ChildProcess>();
  const logs = new Map<string, string>();

  const launch = (s: (typeof specs)[number], state: 'new' | 'existing'): void => {
    const child = spawn(
      ETCD,
      [
        '--name', s.name,
        '--data-dir', `${dir.path}/${s.name}`,
        '--listen-client-urls', s.clientUrl,
        '--advertise-client-urls', s.clientUrl,
        '--listen-peer-urls', s.peerUrl,
        '--initial-advertise-peer-urls', s.peerUrl,
        '--initial-cluster', initialCluster,
        '--initial-cluster-token', token,
        '--initial-cluster-state', state,
        '--max-txn-ops', String(opts.maxTxnOps ?? 4096),
        ...(opts.maxRequestBytes !== undefined ? ['--max-request-bytes', String(opts.maxRequestBytes)] : []),
        '--heartbeat-interval', '50',
        '--election-timeout', '500',
        '--log-level', 'warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    child.stderr?.on('data', (d: Buffer) => {
      log = (log + d.toString()).slice(-4000);
      logs.set(s.name, log);
    });
    child.on('error', (err) => logs.set(s.name, `cannot run ${ETCD}: ${err.message} (install etcd-server)`));
    procs.set(s.name, child);
  };

  const members: EtcdMember[] = specs.map((s) => ({
    ...s,
    kill: async () => {
      const p = procs.get(s.name);
      if (p && p.exitCode === null && p.signalCode === null) {
        const exited = new Promise((resolve) => p.once('exit', resolve));
        p.kill('SIGKILL');
        await exited;
      }
    },
    restart: async () => {
      launch(s, 'existing');
      await waitHealthy([s.clientUrl], logs, procs);
    },
    pause: () => {
      procs.get(s.name)?.kill('SIGSTOP');
    },
    resume: () => {
      procs.get(s.name)?.kill('SIGCONT');
    },
  }));

  const stop = async (): Promise<void> => {
    await Promise.all(members.map((m) => m.kill()));
    await removeQuietly(dir);
  };

  for (const s of specs) launch(s, 'new');
  try {
    await waitHealthy(
      specs.map((s) => s.clientUrl),
      logs,
      procs,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { endpoints: specs.map((s) => s.clientUrl), members, stop };
}

async function waitHealthy(urls: string[], logs: Map<string, string>, procs: Map<string, ChildProcess>): Promise<void> {
  const until = Date.now() + START_TIMEOUT_MS;
  for (const url of urls) {
    for (;;) {
      for (const [name, p] of procs) {
        if (p.exitCode !== null) throw new Error(`etcd member ${name} exited (${p.exitCode}): ${logs.get(name) ?? ''}`);
      }
      const failure = [...logs.values()].find((l) => l.startsWith('cannot run'));
      if (failure) throw new Error(failure);
      try {
        const res = await request(`${url}/health`, { headersTimeout: 1000, bodyTimeout: 1000 });
        const body = (await res.body.json()) as { health?: unknown };
        if (res.statusCode === 200 && body.health === 'true') break;
      } catch {
        // not up yet
      }
      if (Date.now() > until) throw new Error(`etcd at ${url} not healthy after ${START_TIMEOUT_MS} ms: ${[...logs.values()].join('\n')}`);
      await sleep(50);
    }
  }
}

async function removeQuietly(dir: TempDir): Promise<void> {
  await dir.remove().catch(() => undefined);
}

/** A key prefix no other test uses, so tests can share one etcd. */
export function uniquePrefix(): string {
  return `test-${randomBytes(6).toString('hex')}/`;
}

/** Starts `tether registry --store etcd` over `endpoints` and `prefix` on 127.0.0.1:`port` (0 = any). */
export async function startEtcdRegistry(endpoints: string[], prefix: string, port = 0, extra: string[] = []): Promise<RegistryProc> {
  const proc = spawnTether([
    'registry',
    '--listen', `127.0.0.1:${port}`,
    '--store', 'etcd',
    '--etcd-endpoints', endpoints.join(','),
    '--etcd-prefix', prefix,
    ...extra,
  ]);
  const rec = await proc.waitForLog((r) => typeof r.url === 'string', 20_000);
  const url = rec.url as string;
  return { ...proc, url, port: Number(new URL(url).port) };
}

/**
 * Starts one etcd cluster for the calling test file (beforeAll) and stops it
 * afterwards; returns a getter for it, usable from tests and harnesses.
 */
export function useEtcd(size = 1, opts: { maxTxnOps?: number; maxRequestBytes?: number } = {}): () => EtcdCluster {
  let cluster: EtcdCluster | undefined;
  beforeAll(async () => {
    cluster = await startEtcd(size, opts);
  }, 30_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  return () => {
    if (cluster === undefined) throw new Error('etcd did not start (see beforeAll)');
    return cluster;
  };
}

/**
 * A loopback port whose connections never complete: a listener that never
 * accepts, its backlog already full, so the kernel drops new SYNs (a host
 * gone from the network, or a firewall that drops). Needs python3 (`.ci/run`).
 */
export async function unansweredPort(): Promise<{ port: number; stop: () => void }> {
  const script = [
    'import socket, time',
    's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
    'port = s.getsockname()[1]',
    'fill = []',
    'for _ in range(3):',
    '    c = socket.socket(); c.setblocking(False)',
    '    try: c.connect(("127.0.0.1", port))',
    '    except BlockingIOError: pass',
    '    fill.append(c)',
    'print(port, flush=True)',
    'time.sleep(600)',
  ].join('\n');
  const child = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  return { port, stop: () => child.kill('SIGKILL') };
}

/**
 * etcd's own count (its Prometheus metrics) of the gRPC calls of `methods` a member handled, or started; the
 * gateway's requests count too, since it calls the member's gRPC server in-process.
 */
export async function etcdGrpcCalls(endpoint: string, methods: readonly string[], counter: 'handled' | 'started' = 'handled'): Promise<number> {
  const text = await (await fetch(`${endpoint}/metrics`)).text();
  const prefix = `grpc_server_${counter}_total{`;
  let n = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(prefix) && methods.some((m) => line.includes(`grpc_method="${m}"`))) n += Number(line.split(' ').pop());
  }
  return n;
}
