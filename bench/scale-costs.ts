import http from 'node:http';
import { readdirSync } from 'node:fs';
import { Pool } from 'undici';
import { TetherError } from '../src/lib/errors.js';
import { numberOption, type Bench, type BenchContext } from './lib/bench.js';
import { procStatusMb } from './lib/agent-proc.js';
import type { Server } from './lib/child.js';
import { startEtcd } from './lib/etcd.js';
import { expectJson, sendJson } from './lib/http.js';
import { fmt, printResult, printTable, round } from './lib/report.js';
import { startTether } from './lib/tether.js';

/**
 * Per-operation costs for docs/scale.md: server CPU seconds per request
 * (utime + stime from /proc/PID/stat over N requests, so the figure holds on
 * a loaded machine where wall-clock throughput does not), bytes on the wire
 * per event and per list page, and memory and descriptors per waiting
 * long-poll. Once on one embedded (SQLite) server, once on two servers over
 * one etcd (the etcd process's CPU is given beside theirs).
 */

const TENANT = 'scale';
const LANES = 16;
const HEARTBEATS = 4000;
const LIST_ROUNDS = 60;
const CONFIG_VALUES = 200;

interface Target {
  store: string;
  servers: Server[];
  etcd: Server | null;
  pools: Pool[];
}

/** CPU µs per operation: the servers' together, and etcd's. */
interface Cost {
  serverUs: number;
  etcdUs: number;
}

const cpuOf = (servers: readonly Server[]): number => servers.reduce((s, x) => s + x.cpuSeconds(), 0);

/** Runs `n` operations over `lanes` concurrent lanes (lane i uses pool i mod servers) and charges the CPU used to them. */
async function costOf(t: Target, n: number, op: (pool: Pool, i: number, lane: number) => Promise<void>, lanes = LANES): Promise<Cost> {
  const [s0, e0] = [cpuOf(t.servers), t.etcd?.cpuSeconds() ?? 0];
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = next++; i < n; i = next++) await op(t.pools[lane % t.pools.length] as Pool, i, lane);
    }),
  );
  const [s1, e1] = [cpuOf(t.servers), t.etcd?.cpuSeconds() ?? 0];
  return { serverUs: ((s1 - s0) / n) * 1e6, etcdUs: t.etcd === null ? Number.NaN : ((e1 - e0) / n) * 1e6 };
}

async function startTarget(ctx: BenchContext, store: string, services: number): Promise<Target> {
  const args = ['--limits', `service=${services + 100},configuration_value=${CONFIG_VALUES + 100},session=${LANES + 10}`];
  let servers: Server[];
  let etcd: Server | null = null;
  if (store === 'sqlite') servers = [await startTether(ctx.cleanup, { args })];
  else {
    etcd = await startEtcd(ctx.cleanup);
    servers = [await startTether(ctx.cleanup, { store: 'etcd', etcdUrl: etcd.url, args }), await startTether(ctx.cleanup, { store: 'etcd', etcdUrl: etcd.url, args })];
  }
  const pools = servers.map((s) => new Pool(s.url, { connections: LANES }));
  ctx.cleanup.add({ name: 'pools', close: async () => void (await Promise.all(pools.map((p) => p.close()))), kill: () => {} });
  return { store, servers, etcd, pools };
}

interface Chain {
  path: string;
  token: string;
}

async function sessionChains(pool: Pool): Promise<Chain[]> {
  const chains: Chain[] = [];
  for (let i = 0; i < LANES; i++) {
    const body = (await expectJson(pool, 'POST', `/v1.0/${TENANT}/sessions`, { heartbeat_timeout: 120 }, 201)) as { id: string; token: string };
    chains.push({ path: `/v1.0/${TENANT}/sessions/${body.id}`, token: body.token });
  }
  return chains;
}

const sessionId = (c: Chain): string => c.path.slice(c.path.lastIndexOf('/') + 1);

async function beat(pool: Pool, chain: Chain): Promise<void> {
  const r = await sendJson(pool, 'POST', `${chain.path}/heartbeat`, { token: chain.token });
  const token = (r.body as { token?: unknown } | undefined)?.token;
  if (r.status !== 200 || typeof token !== 'string') throw new TetherError('bench.badReply', `session heartbeat: HTTP ${r.status}`);
  chain.token = token;
}

/** GET with the reply's size on the wire: status line and headers (as sent) plus the body. */
function rawGet(url: string, path: string, agent: http.Agent): Promise<{ status: number; headerBytes: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}${path}`, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headerBytes = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n`.length + res.rawHeaders.reduce((s, h) => s + h.length + 2, 0) + 2;
        resolve({ status: res.statusCode ?? 0, headerBytes, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** The newest event id of the tenant (pages through the feed). */
async function newestEvent(pool: Pool): Promise<string> {
  let marker = '';
  for (;;) {
    const page = (await expectJson(pool, 'GET', `/v1.0/${TENANT}/events?limit=1000${marker === '' ? '' : `&marker=${marker}`}`, undefined, 200)) as { values: { id: string }[] };
    const last = page.values.at(-1)?.id;
    if (last === undefined || last === marker) return marker;
    marker = last;
  }
}

const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

async function until(what: string, ok: () => boolean, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new TetherError('bench.timeout', `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface LongPolls {
  armUs: Cost;
  wakeUs: Cost;
  kbPerWait: number;
  fdsPerWait: number;
  wokenBytes: number;
}

/** `n` long-polls (`events?wait=60`, each on its own connection, spread over the servers), then one change wakes them all. */
async function longPolls(t: Target, n: number, marker: string): Promise<LongPolls> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  try {
    const pids = t.servers.map((s) => s.pid);
    const [rss0, fd0] = [pids.reduce((s, p) => s + procStatusMb(p, 'VmRSS'), 0), pids.reduce((s, p) => s + fdCount(p), 0)];
    const [s0, e0] = [cpuOf(t.servers), t.etcd?.cpuSeconds() ?? 0];
    const replies = Array.from({ length: n }, (_, i) => rawGet((t.servers[i % t.servers.length] as Server).url, `/v1.0/${TENANT}/events?marker=${marker}&wait=60`, agent));
    await until(`${n} long-polls held`, () => pids.reduce((s, p) => s + fdCount(p), 0) >= fd0 + n);
    // Let the last requests be parsed and parked before reading memory.
    const settle = Date.now() + 2000;
    await until('settle', () => Date.now() > settle);
    const [s1, e1] = [cpuOf(t.servers), t.etcd?.cpuSeconds() ?? 0];
    const [rss1, fd1] = [pids.reduce((s, p) => s + procStatusMb(p, 'VmRSS'), 0), pids.reduce((s, p) => s + fdCount(p), 0)];
    await expectJson(t.pools[0] as Pool, 'PUT', `/v1.0/${TENANT}/configuration/app/wake`, { value: 'now' }, 204);
    const done = await Promise.all(replies);
    const [s2, e2] = [cpuOf(t.servers), t.etcd?.cpuSeconds() ?? 0];
    const bad = done.filter((r) => r.status !== 200 || !r.body.includes('app/wake"'));
    if (bad.length > 0) throw new TetherError('bench.badReply', `${bad.length} of ${n} long-polls did not return the change: HTTP ${bad[0]?.status} ${bad[0]?.body.slice(0, 300)}`);
    const per = (ds: number): number => (ds / n) * 1e6;
    const first = done[0] as { headerBytes: number; body: string };
    return {
      armUs: { serverUs: per(s1 - s0), etcdUs: t.etcd === null ? Number.NaN : per(e1 - e0) },
      wakeUs: { serverUs: per(s2 - s1), etcdUs: t.etcd === null ? Number.NaN : per(e2 - e1) },
      kbPerWait: ((rss1 - rss0) * 1024) / n,
      fdsPerWait: (fd1 - fd0) / n,
      wokenBytes: first.headerBytes + Buffer.byteLength(first.body),
    };
  } finally {
    agent.destroy();
  }
}

interface EventBytes {
  join: number;
  update: number;
  headers: number;
}

/** One service.join and one configuration_value.update as the feed serves them. */
async function eventBytes(t: Target, chains: readonly Chain[], marker: string): Promise<EventBytes> {
  const pool = t.pools[0] as Pool;
  await expectJson(pool, 'POST', `/v1.0/${TENANT}/services`, { id: 'web-0001.example', session_id: sessionId(chains[0] as Chain), tags: ['web', 'eu'], metadata: { port: '8080', version: '1.4.2' } }, 201);
  await expectJson(pool, 'PUT', `/v1.0/${TENANT}/configuration/app/feature_flag`, { value: 'on' }, 204);
  await expectJson(pool, 'PUT', `/v1.0/${TENANT}/configuration/app/feature_flag`, { value: 'off' }, 204);
  const agent = new http.Agent({ keepAlive: false });
  const r = await rawGet((t.servers[0] as Server).url, `/v1.0/${TENANT}/events?marker=${marker}`, agent);
  const values = (JSON.parse(r.body) as { values: { type: string }[] }).values;
  const size = (type: string): number => Buffer.byteLength(JSON.stringify(values.filter((v) => v.type === type).at(-1) ?? null));
  return { join: size('service.join'), update: size('configuration_value.update'), headers: r.headerBytes };
}

interface Row {
  key: string;
  op: string;
  cost: Cost;
  bytes: number;
}

async function measureStore(ctx: BenchContext, store: string, services: number, followers: number): Promise<Row[]> {
  const t = await startTarget(ctx, store, services);
  const pool = t.pools[0] as Pool;
  const chains = await sessionChains(pool);
  // Warm-up, so the JIT has compiled the paths before they are charged.
  await costOf(t, 500, (p, _, lane) => beat(p, chains[lane] as Chain));
  const hb = await costOf(t, HEARTBEATS, (p, _, lane) => beat(p, chains[lane] as Chain));
  const reg = await costOf(t, services, (p, i) =>
    expectJson(p, 'POST', `/v1.0/${TENANT}/services`, { id: `svc-${String(i).padStart(6, '0')}`, session_id: sessionId(chains[i % LANES] as Chain), tags: ['web'], metadata: { port: '8080' } }, 201).then(() => {}),
  );
  // On etcd a page of session services is one range plus two reads per service, all at once: 16 such
  // pages in flight overran the store's 2 s deadline (503s), so lists go one at a time there.
  const listLanes = store === 'etcd' ? 1 : LANES;
  let pageBytes = 0;
  let listFailed = 0;
  const list = await costOf(t, store === 'etcd' ? LIST_ROUNDS / 4 : LIST_ROUNDS, async (p) => {
    const r = await sendJson(p, 'GET', `/v1.0/${TENANT}/services?limit=1000`, undefined);
    // A 503 (the store's deadline passed) is a figure here, not a bench failure: counted and printed.
    if (r.status === 503) return void listFailed++;
    if (r.status !== 200) throw new TetherError('bench.badReply', `services list: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    pageBytes = Buffer.byteLength(JSON.stringify(r.body));
  }, listLanes);
  // What checking only an agent's own services would cost instead of listing the tenant.
  const getOne = await costOf(t, services, async (p, i) => {
    const r = await sendJson(p, 'GET', `/v1.0/${TENANT}/services/svc-${String(i).padStart(6, '0')}`, undefined);
    if (r.status !== 200) throw new TetherError('bench.badReply', `service GET: HTTP ${r.status}`);
  });
  const put = await costOf(t, CONFIG_VALUES, (p, i) => expectJson(p, 'PUT', `/v1.0/${TENANT}/configuration/app/key-${i}`, { value: `value-${i}` }, 204).then(() => {}));
  let nsBytes = 0;
  const nsList = await costOf(t, LIST_ROUNDS * 5, async (p) => {
    const r = await sendJson(p, 'GET', `/v1.0/${TENANT}/configuration/app/?limit=1000`, undefined);
    if (r.status !== 200) throw new TetherError('bench.badReply', `configuration list: HTTP ${r.status}`);
    nsBytes = Buffer.byteLength(JSON.stringify(r.body));
  }, listLanes);
  if (listFailed > 0) process.stdout.write(`${store}: ${listFailed} services list pages answered 503 (the store's deadline); their CPU is in the figure\n`);
  const marker = await newestEvent(pool);
  await Promise.all(chains.map((c) => beat(pool, c)));
  const ev = await eventBytes(t, chains, marker);
  await Promise.all(chains.map((c) => beat(pool, c)));
  const lp = await longPolls(t, followers, await newestEvent(pool));
  process.stdout.write(`${store}: per waiting long-poll ${fmt(lp.kbPerWait, 1)} KB of server RSS, ${fmt(lp.fdsPerWait, 2)} fds; woken reply ${lp.wokenBytes} bytes; event headers ${ev.headers} bytes\n`);
  return [
    { key: 'heartbeat', op: 'session heartbeat', cost: hb, bytes: Number.NaN },
    { key: 'register', op: 'service registration (POST)', cost: reg, bytes: Number.NaN },
    { key: 'services_page', op: `services list page (${services} services)`, cost: list, bytes: pageBytes },
    { key: 'service_get', op: 'one service GET', cost: getOne, bytes: Number.NaN },
    { key: 'config_put', op: 'configuration PUT', cost: put, bytes: Number.NaN },
    { key: 'namespace_page', op: `namespace list page (${CONFIG_VALUES} values)`, cost: nsList, bytes: nsBytes },
    { key: 'join_event', op: 'event service.join (JSON)', cost: { serverUs: Number.NaN, etcdUs: Number.NaN }, bytes: ev.join },
    { key: 'update_event', op: 'event configuration_value.update (JSON)', cost: { serverUs: Number.NaN, etcdUs: Number.NaN }, bytes: ev.update },
    { key: 'poll_armed', op: `long-poll armed (${followers} held)`, cost: lp.armUs, bytes: Number.NaN },
    { key: 'poll_woken', op: `long-poll woken by one change (${followers})`, cost: lp.wakeUs, bytes: lp.wokenBytes },
    { key: 'poll_kb', op: 'memory per waiting long-poll, KB', cost: { serverUs: Number.NaN, etcdUs: Number.NaN }, bytes: round(lp.kbPerWait, 1) },
    { key: 'poll_fds', op: 'fds per waiting long-poll', cost: { serverUs: Number.NaN, etcdUs: Number.NaN }, bytes: round(lp.fdsPerWait, 2) },
  ];
}

export const scale: Bench = async (ctx) => {
  const services = numberOption(ctx.options.services, 'services', 1000);
  const followers = numberOption((ctx.options as { followers?: string }).followers, 'followers', 1000);
  const stores = ctx.options.store === undefined ? ['sqlite', 'etcd'] : [ctx.options.store];
  const metrics: Record<string, number> = {};
  for (const store of stores) {
    ctx.signal.throwIfAborted();
    const rows = await measureStore(ctx, store, services, followers);
    const label = store === 'sqlite' ? 'sqlite (one server)' : 'etcd (two servers, one etcd)';
    printTable(`scale costs, ${label}: CPU per operation, µs (utime+stime from /proc)`, ['operation', 'servers µs', 'etcd µs', 'bytes / value'], rows.map((r) => [r.op, fmt(r.cost.serverUs, 0), fmt(r.cost.etcdUs, 0), Number.isFinite(r.bytes) ? String(r.bytes) : '']));
    for (const r of rows) {
      if (Number.isFinite(r.cost.serverUs)) metrics[`${store}_${r.key}_us`] = round(r.cost.serverUs, 0);
      if (Number.isFinite(r.cost.etcdUs)) metrics[`${store}_${r.key}_etcd_us`] = round(r.cost.etcdUs, 0);
      if (Number.isFinite(r.bytes)) metrics[`${store}_${r.key}${r.key.startsWith('poll_') && !r.key.endsWith('woken') ? '' : '_bytes'}`] = r.bytes;
    }
    await ctx.cleanup.runAll();
  }
  printResult('scale', metrics);
};
