import { connect, type Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { b64 } from './etcd.js';
import { ARMED, ERRORS, WOKEN, firstByteKey, type FollowerReport } from './follower-counters.js';
import { RawReplyReader } from './follower-raw-http.js';

/**
 * A worker thread of etcd watchers, the etcd side of the followers bench:
 * each watcher is what a minimal etcd-based agent keeps open, one watch
 * stream on one key through etcd's v3 JSON gateway (`POST /v3/watch`, on its
 * own connection), starting at a given revision. The clients are as cheap
 * as the Tether followers' (follower-raw-worker.ts): a raw socket, the
 * request built once, the chunked stream read with RawReplyReader, each
 * distinct message line JSON.parse'd once per thread (identical lines are
 * looked up). The counters mean what they mean for the Tether followers:
 * ARMED counts watches etcd confirmed as created, WOKEN messages that
 * carried events, ERRORS streams that failed. Each event is timed (epoch
 * ms) under the value it carried, at its message's first byte and when the
 * message was whole; the times go to the parent when it says `stop`.
 */

export interface EtcdWatcherJob {
  origin: string;
  key: string;
  /** The first revision to watch from (the next write's). */
  revision: string;
  /** Spread the watches' creation over this long (ms). */
  rampMs: number;
  followers: number;
  counters: SharedArrayBuffer;
}

interface WatchMessage {
  result?: { created?: boolean; events?: { kv?: { value?: string } }[] };
  error?: unknown;
}

/** A parsed message line: whether it confirms creation, and the values its events carry. */
interface Parsed {
  created: boolean;
  values: string[];
  error: string | null;
}

const MAX_PARSED = 64;
const epochNow = (): number => performance.timeOrigin + performance.now();

const job = workerData as EtcdWatcherJob;
const report: FollowerReport = { wakes: new Map(), firstError: null };
const parsed = new Map<string, Parsed>();
let stopping = false;

function parse(line: string): Parsed {
  let p = parsed.get(line);
  if (p === undefined) {
    const msg = JSON.parse(line) as WatchMessage;
    const values = (msg.result?.events ?? []).map((e) => Buffer.from(e.kv?.value ?? '', 'base64').toString('utf8'));
    p = { created: msg.result?.created === true, values, error: msg.error === undefined ? null : JSON.stringify(msg.error) };
    if (parsed.size >= MAX_PARSED) parsed.clear();
    parsed.set(line, p);
  }
  return p;
}

function note(key: string, at: number): void {
  const times = report.wakes.get(key);
  if (times === undefined) report.wakes.set(key, [at]);
  else times.push(at);
}

function watch(counters: Int32Array, host: string, port: number, request: Buffer): Socket {
  let line = '';
  let firstByteAt = 0;
  const fail = (err: unknown): void => {
    if (stopping) return;
    Atomics.add(counters, ERRORS, 1);
    report.firstError ??= err instanceof Error ? err.message : String(err);
  };
  const onLine = (text: string): void => {
    const p = parse(text);
    if (p.error !== null) return fail(new Error(`watch: ${p.error}`));
    if (p.created) Atomics.add(counters, ARMED, 1);
    if (p.values.length === 0) return;
    const at = epochNow();
    for (const v of p.values) {
      note(v, at);
      note(firstByteKey(v), firstByteAt);
    }
    Atomics.add(counters, WOKEN, 1);
  };
  const reader = new RawReplyReader({
    onChunk: (status, data) => {
      if (status !== 200) return fail(new Error(`POST /v3/watch: HTTP ${status}`));
      line += data.toString('utf8');
      for (let nl = line.indexOf('\n'); nl >= 0; nl = line.indexOf('\n')) {
        const one = line.slice(0, nl).trim();
        line = line.slice(nl + 1);
        if (one !== '') onLine(one);
      }
      if (line === '') firstByteAt = 0;
    },
    onReply: (status) => fail(new Error(`POST /v3/watch: the stream ended (HTTP ${status})`)),
  });
  const socket = connect(port, host);
  socket.setNoDelay(true);
  socket.on('data', (chunk: Buffer) => {
    if (firstByteAt === 0) firstByteAt = epochNow();
    try {
      reader.push(chunk);
    } catch (err) {
      fail(err);
      socket.destroy();
    }
  });
  socket.on('error', fail);
  socket.write(request);
  return socket;
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'revision' in workerData) {
  const port = parentPort;
  const counters = new Int32Array(job.counters);
  const url = new URL(job.origin);
  const body = JSON.stringify({ create_request: { key: b64(job.key), start_revision: job.revision } });
  const request = Buffer.from(
    `POST /v3/watch HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    'latin1',
  );
  const sockets: Socket[] = [];
  const timers = Array.from({ length: job.followers }, (_, i) =>
    setTimeout(() => stopping || sockets.push(watch(counters, url.hostname, Number(url.port), request)), (job.rampMs * i) / job.followers),
  );
  port.once('message', () => {
    stopping = true;
    for (const t of timers) clearTimeout(t);
    for (const s of sockets) s.destroy();
    port.postMessage(report);
  });
}
