import { connect, type Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { ARMED, ERRORS, WOKEN, firstByteKey, type FollowerReport } from './follower-counters.js';
import { RawReplyReader } from './follower-raw-http.js';

/**
 * A worker thread of the followers bench's Tether followers, as cheap as a
 * client can be: each follower is a raw keep-alive socket that sends what an
 * agent's EventsFollower sends (`GET /v1.0/T/events?marker=M&limit=1000&wait=30`),
 * reads the reply with RawReplyReader, follows the same marker rule (drop
 * values[0] when it is the marker sent, move to the last id) and polls again
 * at once. Every reply is checked: status 200, the whole Content-Length read,
 * a JSON page. Followers woken by one change get the same bytes, so each
 * distinct body is JSON.parse'd once per thread and the others compare equal
 * to it (a string Map lookup); the etcd watchers (etcd-watcher-worker.ts)
 * follow the same rule, so the comparison stays fair.
 *
 * Counters as in follower-counters.ts. Each wake is timed twice, in epoch ms
 * comparable across threads: when the reply's first byte was read (under
 * firstByteKey(value)) and when its body was whole; the parent gets both on `stop`.
 */

export interface RawFollowerJob {
  origin: string;
  tenant: string;
  marker: string;
  /** Spread the first polls over this long (ms), as a fleet connects over a while. */
  rampMs: number;
  followers: number;
  counters: SharedArrayBuffer;
}

interface Page {
  values: { id: string; type: string; payload: { new_value?: unknown } }[];
}

const WAIT_S = 30;
const LIMIT = 1000;
const RETRY_MS = 100;
/** Distinct bodies kept parsed (a wake makes one or two per thread). */
const MAX_PARSED = 64;

const epochNow = (): number => performance.timeOrigin + performance.now();

class Shared {
  private readonly parsed = new Map<string, Page>();
  private readonly heads = new Map<string, Buffer>();
  readonly report: FollowerReport = { wakes: new Map(), firstError: null };
  stopping = false;

  constructor(
    readonly job: RawFollowerJob,
    readonly counters: Int32Array,
    readonly host: string,
    readonly port: number,
  ) {}

  /** The request for `marker`, built once for every follower at that marker. */
  request(marker: string): Buffer {
    let head = this.heads.get(marker);
    if (head === undefined) {
      if (this.heads.size >= MAX_PARSED) this.heads.clear();
      head = Buffer.from(`GET /v1.0/${this.job.tenant}/events?marker=${marker}&limit=${LIMIT}&wait=${WAIT_S} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\n\r\n`, 'latin1');
      this.heads.set(marker, head);
    }
    return head;
  }

  page(body: Buffer): Page {
    const text = body.toString('latin1');
    let page = this.parsed.get(text);
    if (page === undefined) {
      page = JSON.parse(body.toString('utf8')) as Page;
      if (!Array.isArray(page.values)) throw new Error('GET /events: a reply without values');
      if (this.parsed.size >= MAX_PARSED) this.parsed.clear();
      this.parsed.set(text, page);
    }
    return page;
  }

  fail(err: unknown): void {
    Atomics.add(this.counters, ERRORS, 1);
    this.report.firstError ??= err instanceof Error ? err.message : String(err);
  }

  note(key: string, at: number): void {
    const times = this.report.wakes.get(key);
    if (times === undefined) this.report.wakes.set(key, [at]);
    else times.push(at);
  }
}

class RawFollower {
  private socket: Socket | null = null;
  private reader: RawReplyReader | null = null;
  private firstByteAt = 0;

  constructor(
    private readonly shared: Shared,
    private marker: string,
  ) {}

  start(): void {
    if (this.shared.stopping) return;
    const socket = connect(this.shared.port, this.shared.host);
    socket.setNoDelay(true);
    this.socket = socket;
    this.reader = new RawReplyReader({ onReply: (status, body) => this.onReply(status, body) });
    socket.on('data', (chunk: Buffer) => {
      if (this.firstByteAt === 0) this.firstByteAt = epochNow();
      try {
        this.reader?.push(chunk);
      } catch (err) {
        this.retry(err);
      }
    });
    socket.on('error', (err) => this.retry(err));
    socket.on('close', () => this.socket === socket && this.retry(new Error('connection closed by the server')));
    this.poll();
  }

  stop(): void {
    const s = this.socket;
    this.socket = null;
    s?.destroy();
  }

  private poll(): void {
    Atomics.add(this.shared.counters, ARMED, 1);
    this.firstByteAt = 0;
    this.socket?.write(this.shared.request(this.marker));
  }

  private onReply(status: number, body: Buffer): void {
    const at = epochNow();
    const first = this.firstByteAt;
    if (status !== 200) throw new Error(`GET /events: HTTP ${status}: ${body.toString('utf8').slice(0, 300)}`);
    const page = this.shared.page(body);
    const fresh = page.values[0]?.id === this.marker ? page.values.slice(1) : page.values;
    const last = fresh[fresh.length - 1];
    if (last !== undefined) {
      for (const e of fresh) {
        const v = e.payload.new_value;
        if (e.type !== 'configuration_value.update' || typeof v !== 'string') continue;
        this.shared.note(v, at);
        this.shared.note(firstByteKey(v), first);
      }
      this.marker = last.id;
      Atomics.add(this.shared.counters, WOKEN, 1);
    }
    this.poll();
  }

  /** A failed poll or connection: counted, and the follower starts over on a new connection 100 ms later. */
  private retry(err: unknown): void {
    if (this.shared.stopping || this.socket === null) return;
    this.shared.fail(err);
    this.stop();
    setTimeout(() => this.start(), RETRY_MS);
  }
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'marker' in workerData) {
  const port = parentPort;
  const job = workerData as RawFollowerJob;
  const url = new URL(job.origin);
  const shared = new Shared(job, new Int32Array(job.counters), url.hostname, Number(url.port));
  const followers = Array.from({ length: job.followers }, () => new RawFollower(shared, job.marker));
  const timers = followers.map((f, i) => setTimeout(() => f.start(), (job.rampMs * i) / followers.length));
  port.once('message', () => {
    shared.stopping = true;
    for (const t of timers) clearTimeout(t);
    for (const f of followers) f.stop();
    port.postMessage(shared.report);
  });
}
