import { parentPort, workerData } from 'node:worker_threads';
import { Client } from 'undici';
import { b64 } from './etcd.js';
import { ARMED, ERRORS, WOKEN, type FollowerReport } from './follower-counters.js';

/**
 * A worker thread of etcd watchers, the etcd side of the followers bench:
 * each watcher is what a minimal etcd-based agent keeps open, one watch
 * stream on one key through etcd's v3 JSON gateway (`POST /v3/watch`, on its
 * own keep-alive connection), starting at a given revision. The counters
 * mean what they mean for the Tether followers (propagation-follower-worker.ts):
 * ARMED counts watches etcd confirmed as created, WOKEN messages that carried
 * events, ERRORS streams that failed. Each event is timed (epoch ms) under
 * the value it carried; the times go to the parent when it says `stop`.
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

const epochNow = (): number => performance.timeOrigin + performance.now();

function watch(client: Client, job: EtcdWatcherJob, counters: Int32Array, report: FollowerReport): void {
  let buf = '';
  const fail = (err: unknown): void => {
    Atomics.add(counters, ERRORS, 1);
    report.firstError ??= err instanceof Error ? err.message : String(err);
  };
  const onLine = (line: string): void => {
    const msg = JSON.parse(line) as WatchMessage;
    if (msg.error !== undefined) return fail(new Error(`watch: ${JSON.stringify(msg.error)}`));
    if (msg.result?.created === true) Atomics.add(counters, ARMED, 1);
    const events = msg.result?.events ?? [];
    if (events.length === 0) return;
    const at = epochNow();
    for (const e of events) {
      const v = Buffer.from(e.kv?.value ?? '', 'base64').toString('utf8');
      const times = report.wakes.get(v);
      if (times === undefined) report.wakes.set(v, [at]);
      else times.push(at);
    }
    Atomics.add(counters, WOKEN, 1);
  };
  client.dispatch(
    {
      path: '/v3/watch',
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ create_request: { key: b64(job.key), start_revision: job.revision } }),
    },
    {
      onRequestStart: () => {},
      onResponseStart: (_, status) => void (status !== 200 && fail(new Error(`POST /v3/watch: HTTP ${status}`))),
      onResponseData: (_, chunk) => {
        buf += chunk.toString('utf8');
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line !== '') onLine(line);
        }
      },
      onResponseEnd: () => {},
      onResponseError: (_, err) => {
        if (!stopping) fail(err);
      },
    },
  );
}

let stopping = false;

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'revision' in workerData) {
  const port = parentPort;
  const job = workerData as EtcdWatcherJob;
  const counters = new Int32Array(job.counters);
  const report: FollowerReport = { wakes: new Map(), firstError: null };
  // No body or headers timeout: a watch stream is quiet between changes.
  const clients = Array.from({ length: job.followers }, () => new Client(job.origin, { pipelining: 1, bodyTimeout: 0, headersTimeout: 0 }));
  clients.forEach((c, i) => setTimeout(() => stopping || watch(c, job, counters, report), (job.rampMs * i) / clients.length));
  port.once('message', () => {
    stopping = true;
    void Promise.all(clients.map((c) => c.destroy())).then(() => port.postMessage(report));
  });
}
