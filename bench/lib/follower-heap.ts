import { fork } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TetherError } from '../../src/lib/errors.js';
import { startServer } from '../../test/server/helpers.js';

/**
 * What a waiting follower costs the server's memory, split in two: an open
 * idle connection (socket, parser), then the long-poll on it (request,
 * response, the wait). The server runs in this process (so that it can be
 * collected before each reading); the followers are raw sockets in a child
 * process. Run: `node --import tsx bench/lib/follower-heap.ts [N [DIR]]` (10000; with DIR,
 * heap snapshots r0 (before), r1 (idle connections), r2 (polls waiting) are written there).
 *
 * Prints heap used, external and RSS growth per follower after a full GC;
 * then times a few wakes of all N to the last reply read (the clients only
 * count bytes, so this is the server's part of the followers bench's wake),
 * with when the PUT was answered and when the server wrote its first and
 * last reply (each long-poll reply's 'finish'), and the server's CPU per reply.
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const TENANT = 'heap';
const WAKES = 5;

/** When the server wrote its replies to the long-polls (performance.now() of each 'finish'), for the wake's split. */
const finished: number[] = [];
function onFinish(this: ServerResponse): void {
  finished.push(performance.now());
}

interface Reading {
  heap: number;
  external: number;
  rss: number;
}

/** With a second argument (a directory): a heap snapshot at each reading, to diff per follower. */
const snapshotDir = process.argv[3];
let readings = 0;

async function reading(): Promise<Reading> {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(50);
  }
  if (snapshotDir !== undefined && process.argv[2] !== 'child') writeHeapSnapshot(`${snapshotDir}/r${readings++}.heapsnapshot`);
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external, rss: m.rss };
}

/** The child: opens N sockets to PORT, then on 'send' writes the poll on each; reports progress by message. */
function child(): void {
  const [port, n] = [Number(process.argv[3]), Number(process.argv[4])];
  const sockets: Socket[] = [];
  let open = 0;
  for (let i = 0; i < n; i++) {
    const s = connect(port, '127.0.0.1', () => {
      if (++open === n) process.send?.('connected');
    });
    s.on('error', (err) => {
      process.send?.(`error ${err.message}`);
    });
    sockets.push(s);
  }
  let replies = 0;
  for (const s of sockets) {
    // One reply is one chunk here (a few hundred bytes on loopback); only counted, never parsed.
    s.on('data', () => {
      if (++replies === n) {
        replies = 0;
        process.send?.('replied');
      }
    });
  }
  process.on('message', (m: { path: string }) => {
    const head = `GET ${m.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
    for (const s of sockets) s.write(head);
    process.send?.('sent');
  });
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 10_000);
  const s = await startServer({ connections: { maxPerClient: 1_000_000, headersTimeoutMs: 600_000, requestTimeoutMs: 600_000 } });
  // One shared listener per request (a slot in the response's listener array), no closure.
  s.server.server.on('request', (req: IncomingMessage, res: ServerResponse) => void (req.url?.includes('wait=') === true && res.on('finish', onFinish)));
  const base = `http://127.0.0.1:${s.port}/v1.0/${TENANT}`;
  const put = (v: string): Promise<Response> =>
    fetch(`${base}/configuration/heap-key`, { method: 'PUT', body: JSON.stringify({ value: v }), headers: { 'content-type': 'application/json' } });
  await put('a');
  const marker = ((await (await fetch(`${base}/events`)).json()) as { values: { id: string }[] }).values.at(-1)?.id;
  if (marker === undefined) throw new TetherError('bench.badReply', 'no event');
  const waiting = async (): Promise<number> => Number(/tether_long_polls_waiting\{api="registry"\} (\d+)/.exec((await s.server.metrics.scrape()).text)?.[1] ?? 0);

  const kid = fork(new URL(import.meta.url).pathname, ['child', String(s.port), String(n)], { execArgv: ['--import', 'tsx'] });
  const next = (): Promise<string> => new Promise((resolve) => kid.once('message', (m) => resolve(String(m))));
  try {
    const r0 = await reading();
    const connected = await next();
    if (connected !== 'connected') throw new TetherError('bench.badReply', connected);
    await sleep(500);
    const r1 = await reading();
    kid.send({ path: `/v1.0/${TENANT}/events?marker=${marker}&limit=1000&wait=60` });
    await next();
    for (let t = Date.now(); (await waiting()) < n; await sleep(100)) {
      if (Date.now() - t > 60_000) throw new TetherError('bench.timeout', `${await waiting()} waiting, want ${n}`);
    }
    const r2 = await reading();
    const per = (a: Reading, b: Reading, k: keyof Reading): string => ((b[k] - a[k]) / n / 1024).toFixed(2);
    const row = (name: string, a: Reading, b: Reading): string => `${name.padEnd(28)} heap ${per(a, b, 'heap')} KB  external ${per(a, b, 'external')} KB  rss ${per(a, b, 'rss')} KB`;
    process.stdout.write(`${n} followers, per follower:\n${row('idle connection', r0, r1)}\n${row('its waiting long-poll', r1, r2)}\n${row('both', r0, r2)}\n`);
    // The server's side of a wake: from the write to the last reply read by a client that does nothing else.
    const wakes: string[] = [];
    /** The wakes' spans, monotonic microseconds (a --cpu-prof's clock), for a profile of the wakes alone. */
    const windows: [number, number][] = [];
    for (let round = 0; round < WAKES; round++) {
      const replied = next();
      finished.length = 0;
      const [t0, c0, h0] = [performance.now(), process.cpuUsage(), process.hrtime.bigint()];
      await put(`wake-${round}`);
      const putAt = performance.now() - t0;
      if ((await replied) !== 'replied') throw new TetherError('bench.badReply', 'follower child failed');
      const [ms, cpu] = [performance.now() - t0, process.cpuUsage(c0)];
      windows.push([Number(h0 / 1000n), Number(process.hrtime.bigint() / 1000n)]);
      const [firstAt, lastAt] = [(finished[0] ?? Number.NaN) - t0, (finished[n - 1] ?? Number.NaN) - t0];
      wakes.push(
        `${ms.toFixed(0)} ms to the last reply read (PUT answered at ${putAt.toFixed(0)}, replies written ${firstAt.toFixed(0)}-${lastAt.toFixed(0)} ms; ` +
          `${((cpu.user + cpu.system) / n).toFixed(1)} us CPU per reply, ${(cpu.system / n).toFixed(1)} of it system)`,
      );
      const last = ((await (await fetch(`${base}/events?marker=${marker}`)).json()) as { values: { id: string }[] }).values.at(-1)?.id;
      kid.send({ path: `/v1.0/${TENANT}/events?marker=${last}&limit=1000&wait=60` });
      await next();
      for (let t = Date.now(); (await waiting()) < n; await sleep(100)) {
        if (Date.now() - t > 60_000) throw new TetherError('bench.timeout', `${await waiting()} waiting, want ${n}`);
      }
    }
    process.stdout.write(`one write -> ${n} replies read:\n${wakes.join('\n')}\nwake windows (us): ${JSON.stringify(windows)}\n`);
  } finally {
    kid.kill();
    await s.close();
  }
}

if (process.argv[2] === 'child') child();
else await main();
