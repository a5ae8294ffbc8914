import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'undici';
import { TetherError } from '../src/lib/errors.js';
import { numberOption, registryNodeArgs, type Bench, type BenchContext } from './lib/bench.js';
import type { Server } from './lib/child.js';
import { cpuMeter, type Cpu } from './lib/cpu.js';
import { b64, startEtcd } from './lib/etcd.js';
import { expectJson } from './lib/http.js';
import { fmt, percent, printResult, printTable, ratio, round, warnIfBusy } from './lib/report.js';
import { summarize, type Summary } from './lib/stats.js';
import { startTether } from './lib/tether.js';

/**
 * Wake-up latency: a waiter holds a request for "the next change", a writer
 * changes one configuration value, and we time from just before the write is
 * sent to the moment the waiter's reply (tether: the `GET /events?wait=30`
 * long-poll; etcd: the event on a v3 watch stream) has arrived and parsed.
 * Rounds are sequential: the next write waits for the previous round and a
 * short pause, so each write meets a request already in flight.
 */

const TENANT = 'bench';
const KEY = 'bench-key';
const WARMUP_ROUNDS = 50;
const TARGET_P99_MS = 10;

/** A waiter and a writer on their own keep-alive connections. */
interface Rounds {
  /** The PUT of value `v`, timed; rejects on a wrong reply. */
  round(v: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * Times one write against a wake already in flight: pauses `delayMs`, fails if
 * the waiter woke before the write, then sends `put` and waits for both.
 * Resolves with [ms from before the write to the wake, what the wake carried].
 */
async function timeWake<T>(wake: Promise<T>, delayMs: number, put: () => Promise<unknown>): Promise<[number, T]> {
  let woke = Number.NaN;
  const arrived = wake.then((v) => ((woke = performance.now()), v));
  arrived.catch(() => {}); // a failure during the pause surfaces below, not as an unhandled rejection
  await sleep(delayMs);
  if (!Number.isNaN(woke)) throw new TetherError('bench.badReply', 'the waiter woke before the write was sent');
  const t0 = performance.now();
  const [, v] = await Promise.all([put(), arrived]);
  return [woke - t0, v];
}

interface EventsPage {
  values: { id: string; type: string; payload: { new_value?: unknown } }[];
}

/** Tether: the waiter long-polls `GET /events?marker=<last id>&wait=30`; the writer PUTs the configuration value. */
async function tetherRounds(server: Server, delayMs: number): Promise<Rounds> {
  const [waiter, writer] = [new Client(server.url), new Client(server.url)];
  const path = `/v1.0/${TENANT}/configuration/${KEY}`;
  const lastOf = (page: EventsPage): EventsPage['values'][number] | undefined => page.values[page.values.length - 1];
  await expectJson(writer, 'PUT', path, { value: 'initial' }, 204);
  let marker = lastOf((await expectJson(waiter, 'GET', `/v1.0/${TENANT}/events`, undefined, 200)) as EventsPage)?.id;
  return {
    async round(value) {
      const poll = expectJson(waiter, 'GET', `/v1.0/${TENANT}/events?marker=${marker}&wait=30`, undefined, 200) as Promise<EventsPage>;
      const [ms, page] = await timeWake(poll, delayMs, () => expectJson(writer, 'PUT', path, { value }, 204));
      const last = lastOf(page);
      if (page.values[0]?.id !== marker || last?.type !== 'configuration_value.update' || last.payload.new_value !== value) {
        throw new TetherError('bench.badReply', `events after ${marker}: want [marker, update to ${value}], got ${JSON.stringify(page.values)}`);
      }
      marker = last.id;
      return ms;
    },
    close: async () => void (await Promise.all([waiter.destroy(), writer.destroy()])),
  };
}

interface WatchMessage {
  result?: { created?: boolean; events?: { kv?: { value?: string } }[] };
  error?: unknown;
}

/** etcd: one watch stream on the key through the v3 JSON gateway; the writer uses `POST /v3/kv/put`. */
async function etcdRounds(server: Server, delayMs: number): Promise<Rounds> {
  const [watcher, writer] = [new Client(server.url), new Client(server.url)];
  const put = (value: string): Promise<unknown> => expectJson(writer, 'POST', '/v3/kv/put', { key: b64(KEY), value: b64(value) }, 200);
  const first = (await put('initial')) as { header: { revision: string } };
  const res = await watcher.request({
    path: '/v3/watch',
    method: 'POST',
    body: JSON.stringify({ create_request: { key: b64(KEY), start_revision: String(Number(first.header.revision) + 1) } }),
  });
  const messages = jsonLines<WatchMessage>(res.body);
  const next = async (): Promise<WatchMessage> => {
    const m = await messages.next();
    if (m.done === true || m.value.error !== undefined) throw new TetherError('bench.badReply', `watch stream ended: ${JSON.stringify(m.value)}`);
    return m.value;
  };
  if ((await next()).result?.created !== true) throw new TetherError('bench.badReply', 'watch was not created');
  return {
    async round(value) {
      const [ms, msg] = await timeWake(next(), delayMs, () => put(value));
      const got = msg.result?.events?.[0]?.kv?.value;
      if (got !== b64(value)) throw new TetherError('bench.badReply', `watch: want ${value}, got ${JSON.stringify(msg)}`);
      return ms;
    },
    close: async () => void (await Promise.all([watcher.destroy(), writer.destroy()])),
  };
}

/** Newline-delimited JSON from a byte stream (the gateway's streaming replies). */
async function* jsonLines<T>(body: AsyncIterable<Buffer>): AsyncGenerator<T, void> {
  let buf = '';
  for await (const chunk of body) {
    buf += chunk.toString('utf8');
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line !== '') yield JSON.parse(line) as T;
    }
  }
}

interface Measured {
  latency: Summary;
  cpu: Cpu;
}

/** Starts the server, runs warm-up then measured rounds, stops it; resolves with what the measured rounds took. */
async function measure(ctx: BenchContext, start: () => Promise<Server>, open: typeof tetherRounds, rounds: number, delayMs: number): Promise<Measured> {
  const server = await start();
  try {
    const r = await open(server, delayMs);
    try {
      for (let i = 0; i < WARMUP_ROUNDS; i++) await r.round(`warm-up-${i}`);
      const samples: number[] = [];
      const stop = cpuMeter(server);
      for (let i = 0; i < rounds; i++) {
        ctx.signal.throwIfAborted();
        samples.push(await r.round(`value-${i}`));
      }
      return { latency: summarize(samples), cpu: stop() };
    } finally {
      await r.close();
    }
  } finally {
    await server.stop();
  }
}

export const wakeup: Bench = async (ctx) => {
  const { options } = ctx;
  const rounds = numberOption(options.rounds, 'rounds', 1000);
  const delayMs = numberOption(options['delay-ms'], 'delay-ms', 2);
  const tm = await measure(ctx, () => startTether(ctx.cleanup, { store: options.store, nodeArgs: registryNodeArgs(options) }), tetherRounds, rounds, delayMs);
  const em = await measure(ctx, () => startEtcd(ctx.cleanup), etcdRounds, rounds, delayMs);
  const [t, e] = [tm.latency, em.latency];

  const row = (name: string, { latency: s, cpu }: Measured): string[] => [
    name, fmt(s.p50), fmt(s.p90), fmt(s.p99), fmt(s.max), percent(cpu.client), percent(cpu.server), percent(cpu.other),
  ];
  printTable(
    `wakeup: write -> waiting reader woken, ${rounds} rounds after ${WARMUP_ROUNDS} warm-up, ${delayMs} ms pause before each write`,
    ['system', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'CPU: client', 'server', 'other procs'],
    [row('tether', tm), row('etcd', em), ['tether/etcd', fmt(ratio(t.p50, e.p50)), fmt(ratio(t.p90, e.p90)), fmt(ratio(t.p99, e.p99)), fmt(ratio(t.max, e.max))]],
  );
  warnIfBusy('tether', tm.cpu);
  warnIfBusy('etcd', em.cpu);
  process.stdout.write(`target p99 < ${TARGET_P99_MS} ms: ${t.p99 < TARGET_P99_MS ? 'met' : 'MISSED'}\n`);
  printResult('wakeup', {
    p50_ms: round(t.p50, 3),
    p90_ms: round(t.p90, 3),
    p99_ms: round(t.p99, 3),
    max_ms: round(t.max, 3),
    etcd_p50_ms: round(e.p50, 3),
    etcd_p90_ms: round(e.p90, 3),
    etcd_p99_ms: round(e.p99, 3),
    etcd_max_ms: round(e.max, 3),
    ratio_p50: round(ratio(t.p50, e.p50)),
    ratio_p99: round(ratio(t.p99, e.p99)),
    other_cpu: round(tm.cpu.other),
    rounds,
    target_p99_ms: TARGET_P99_MS,
  });
};
