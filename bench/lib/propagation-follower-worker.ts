import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { Client } from 'undici';
import { ARMED, ERRORS, WOKEN, type FollowerReport } from './follower-counters.js';
import { sendJson } from './http.js';

/**
 * A worker thread of simulated followers: each one is what an agent's
 * EventsFollower (src/client/events-follower.ts) puts on the registry, and
 * nothing else. Its own keep-alive connection (an undici Client), the same
 * request (`GET /v1.0/T/events?marker=M&limit=1000&wait=30`), the same
 * marker rule (drop values[0] when it is the marker sent, move to the last
 * id), the same JSON parse of the whole page; then at once the next poll.
 * It renders no file.
 *
 * Shared counters (Int32Array over `counters`) let the parent see progress
 * without a message per wake: ARMED counts polls sent, WOKEN replies that
 * carried new events, ERRORS failed polls (retried after 100 ms, like the
 * follower's first backoff step). Each wake is timed (epoch ms, comparable
 * across threads) per configuration value it carried; the times go to the
 * parent when it says `stop`.
 */

export { ARMED, COUNTERS, ERRORS, WOKEN } from './follower-counters.js';

export interface FollowerJob {
  origin: string;
  tenant: string;
  /** Spread the followers' first polls over this long (ms; default 0: all at once), as a fleet connects over a while. */
  rampMs?: number;
  /** The id to start from: the newest event before the first change. */
  marker: string;
  followers: number;
  counters: SharedArrayBuffer;
}

export type { FollowerReport } from './follower-counters.js';

interface EventsPage {
  values: { id: string; type: string; payload: { new_value?: unknown } }[];
}

const WAIT_S = 30;
const LIMIT = 1000;
const RETRY_MS = 100;

const epochNow = (): number => performance.timeOrigin + performance.now();

async function follow(client: Client, job: FollowerJob, counters: Int32Array, stop: AbortSignal, report: FollowerReport, delayMs: number): Promise<void> {
  if (delayMs > 0) await sleep(delayMs);
  let marker = job.marker;
  while (!stop.aborted) {
    Atomics.add(counters, ARMED, 1);
    let page: EventsPage;
    try {
      const reply = await sendJson(client, 'GET', `/v1.0/${job.tenant}/events?marker=${marker}&limit=${LIMIT}&wait=${WAIT_S}`);
      if (reply.status !== 200) throw new Error(`GET /events: HTTP ${reply.status}: ${JSON.stringify(reply.body)}`);
      page = reply.body as EventsPage;
    } catch (err) {
      if (stop.aborted) return;
      Atomics.add(counters, ERRORS, 1);
      report.firstError ??= err instanceof Error ? err.message : String(err);
      await sleep(RETRY_MS);
      continue;
    }
    const at = epochNow();
    const fresh = page.values[0]?.id === marker ? page.values.slice(1) : page.values;
    const last = fresh[fresh.length - 1];
    if (last === undefined) continue;
    for (const e of fresh) {
      const v = e.payload.new_value;
      if (e.type !== 'configuration_value.update' || typeof v !== 'string') continue;
      const times = report.wakes.get(v);
      if (times === undefined) report.wakes.set(v, [at]);
      else times.push(at);
    }
    marker = last.id;
    Atomics.add(counters, WOKEN, 1);
  }
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'followers' in workerData) {
  const port = parentPort;
  const job = workerData as FollowerJob;
  const counters = new Int32Array(job.counters);
  const stop = new AbortController();
  const report: FollowerReport = { wakes: new Map(), firstError: null };
  const clients = Array.from({ length: job.followers }, () => new Client(job.origin, { pipelining: 1 }));
  const loops = clients.map((c, i) => follow(c, job, counters, stop.signal, report, ((job.rampMs ?? 0) * i) / clients.length));
  port.once('message', () => {
    stop.abort();
    // Destroying a client fails its held poll; each loop then sees `stop` and ends.
    void Promise.all(clients.map((c) => c.destroy()))
      .then(() => Promise.all(loops))
      .then(() => port.postMessage(report));
  });
}
