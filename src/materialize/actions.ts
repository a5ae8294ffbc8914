import { readdir, readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { drain, HttpPool, readHead } from '../lib/http-pool.js';
import { Backoff, sleep, type BackoffOptions } from '../lib/backoff.js';
import { runProcess } from '../lib/process.js';
import type { ActionSpec } from '../manifest/model.js';
import { describeError, OUTPUT_LIMIT_BYTES, runAttempt, truncateOutput, type Verdict } from '../probes/attempt.js';
import { commandVerdict } from '../probes/exec.js';
import { queueOnce, type QueuePoster } from '../workers/queue-action.js';
import { inheritedEnv } from '../lib/child-env.js';

/**
 * Reload actions: what runs when a file's bytes change or a hook fires.
 * The timeout / abort / 4 KiB output framing is the probes' `runAttempt`
 * (written once); this module only supplies one attempt per action kind,
 * and `ActionRunner`, the per-action coalescing and retry loop.
 */

/** What one run of an action did. A failing action is a result, not an exception. */
export interface ActionResult {
  ok: boolean;
  /** Short text, at most 4 KiB: "sent SIGHUP to pid 123", "exit status 0: …tail", "HTTP 204". */
  output: string;
  durationMs: number;
}

export interface RunActionOptions {
  /** exec: written to stdin (an empty stdin without it); http: the JSON request body; signal: ignored. */
  input?: string | undefined;
  /** Aborting kills a running command's process group (or the request) and rejects. */
  signal?: AbortSignal | undefined;
  /** exec: added to the agent's environment. */
  env?: Record<string, string> | undefined;
  /** queue: where its message is posted (the agent's queues client). */
  queues?: QueuePoster | undefined;
}

/** A signal action has no timeout of its own; this bounds the /proc scan. */
const SIGNAL_TIMEOUT_MS = 5000;
/** A queue action's post (its client retries nothing itself; the runner's attempts do). */
const QUEUE_TIMEOUT_MS = 15_000;
const USER_AGENT = 'tether-action';

/**
 * Runs `spec` once. Resolves with ok:false for every failure of the action
 * (missing pidfile, exit status, non-2xx, timeout: "timed out after Nms");
 * rejects only with `signal.reason` when the caller aborts (at once if it
 * already has), after killing what it started.
 */
export function runAction(spec: ActionSpec, opts: RunActionOptions = {}): Promise<ActionResult> {
  const caller = opts.signal ?? new AbortController().signal;
  switch (spec.kind) {
    case 'signal':
      return runAttempt(caller, SIGNAL_TIMEOUT_MS, () => signalOnce(spec));
    case 'exec': {
      const env = { ...inheritedEnv(), ...opts.env };
      return runAttempt(caller, spec.timeoutMs, (s) => execOnce(spec, opts.input, env, s));
    }
    case 'http':
      return runAttempt(caller, spec.timeoutMs, (s) => httpOnce(spec, opts.input, s));
    case 'queue':
      return runAttempt(caller, QUEUE_TIMEOUT_MS, (s) => queueOnce(spec, opts.input, opts.queues, s));
  }
}

/**
 * A one-line description of `spec` that is safe to log: no header values,
 * no URL credentials or query, only a command's executable.
 */
export function describeAction(spec: ActionSpec): string {
  switch (spec.kind) {
    case 'signal':
      return spec.pidfile !== null ? `${spec.signal} to the pid in ${spec.pidfile}` : `${spec.signal} to processes named ${spec.process}`;
    case 'exec':
      return `exec ${spec.shell ? 'sh -c' : (spec.argv[0] ?? '(empty argv)')}`;
    case 'http': {
      let where = '(invalid url)';
      try {
        const u = new URL(spec.url);
        where = `${u.protocol}//${u.host}${u.pathname}`;
      } catch {
        // reported when it runs
      }
      return `${spec.method} ${where}`;
    }
    case 'queue':
      return `post to queue ${spec.queue}`;
  }
}

// ---- signal ---------------------------------------------------------------

type SignalSpec = Extract<ActionSpec, { kind: 'signal' }>;
type ExecSpec = Extract<ActionSpec, { kind: 'exec' }>;

/** The pidfile wins when both are set. */
async function signalOnce(spec: SignalSpec): Promise<Verdict> {
  if (spec.pidfile !== null) {
    let text: string;
    try {
      text = (await readFile(spec.pidfile, 'utf8')).trim();
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      return { ok: false, output: `pidfile ${spec.pidfile} ${missing ? 'not found' : `unreadable: ${describeError(err)}`}` };
    }
    // 0 and negative numbers would name process groups (our own, for 0).
    const pid = /^[0-9]{1,10}$/.test(text) ? Number(text) : 0;
    if (pid < 1 || pid > 0x7fffffff) {
      return { ok: false, output: `pidfile ${spec.pidfile} is invalid: ${JSON.stringify(truncateOutput(text, 40))}` };
    }
    return sendSignal(spec.signal, [pid]);
  }
  if (spec.process !== null) {
    const pids = await findProcesses(spec.process);
    if (pids.length === 0) return { ok: false, output: `no process named ${spec.process}` };
    return sendSignal(spec.signal, pids);
  }
  return { ok: false, output: 'signal action names neither a pidfile nor a process' };
}

/** ok when at least one process got the signal; the text names the pids and each failure. */
function sendSignal(signal: NodeJS.Signals, pids: number[]): Verdict {
  const sent: number[] = [];
  const failed: string[] = [];
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
      sent.push(pid);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      failed.push(`pid ${pid}: ${code === 'ESRCH' ? 'no such process' : (code ?? describeError(err))}`);
    }
  }
  const parts = sent.length > 0 ? [`sent ${signal} to pid${sent.length > 1 ? 's' : ''} ${sent.join(', ')}`] : [`${signal} not sent`];
  return { ok: sent.length > 0, output: [...parts, ...failed].join('; ') };
}

/**
 * Pids of live processes whose /proc comm (the kernel's name, cut to 15
 * bytes) or argv[0] basename is exactly `name`. Zombies (they cannot take a
 * signal) and the agent itself (`process: node` must not reload us) are skipped.
 */
async function findProcesses(name: string): Promise<number[]> {
  const entries = await readdir('/proc');
  const pids = entries.filter((e) => /^[0-9]+$/.test(e)).map(Number).filter((pid) => pid !== process.pid);
  const found = await Promise.all(pids.map(async (pid) => ((await isNamed(pid, name)) ? pid : null)));
  return found.filter((pid): pid is number => pid !== null);
}

async function isNamed(pid: number, name: string): Promise<boolean> {
  try {
    // stat is "pid (comm) state ..."; comm itself may hold ')' or spaces.
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    if ('ZX'.includes(stat.charAt(close + 2))) return false;
    if (stat.slice(stat.indexOf('(') + 1, close) === name) return true;
    const argv0 = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')[0] ?? '';
    return argv0 !== '' && basename(argv0) === name;
  } catch {
    return false; // exited meanwhile, or hidden from us
  }
}

// ---- exec ---------------------------------------------------------------

/**
 * Runs the command with the process runner. On timeout or abort its whole
 * group is stopped and this rejects. Unlike a probe, a normal exit leaves the
 * group alone: a reload script may start a background job on purpose; it
 * only loses our pipes.
 */
async function execOnce(spec: ExecSpec, input: string | undefined, env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<Verdict> {
  if (spec.argv[0] === undefined || spec.argv[0] === '') return { ok: false, output: 'exec action: argv is empty' };
  // Without input: an empty stdin, EOF at once (a command that reads it must not hang).
  const result = await runProcess({ argv: spec.argv, shell: spec.shell, env, stdin: input ?? '', signal, leftovers: 'leave', keep: 'tail', outputLimit: OUTPUT_LIMIT_BYTES });
  return commandVerdict(result, 'status');
}

// ---- http -----------------------------------------------------------------

type HttpSpec = Extract<ActionSpec, { kind: 'http' }>;

/** The keep-alive pools of HTTP actions, one per origin, for the life of the process. */
const actionPools = new Map<string, HttpPool>();

/**
 * One request on the actions' keep-alive pools; 2xx is ok. `input` is the body
 * (application/json unless the spec sets a content-type), except for GET and
 * HEAD, which carry none. A failure's text has the head of the response body,
 * never a header value.
 */
async function httpOnce(spec: HttpSpec, input: string | undefined, signal: AbortSignal): Promise<Verdict> {
  const method = spec.method.toUpperCase();
  const body = method === 'GET' || method === 'HEAD' ? undefined : input;
  const headers: Record<string, string> = { ...spec.headers };
  const has = (name: string): boolean => Object.keys(headers).some((k) => k.toLowerCase() === name);
  if (!has('user-agent')) headers['user-agent'] = USER_AGENT;
  if (body !== undefined && !has('content-type')) headers['content-type'] = 'application/json';
  const url = new URL(spec.url);
  let pool = actionPools.get(url.origin);
  if (pool === undefined) actionPools.set(url.origin, (pool = new HttpPool(url.origin)));
  const res = await pool.request({ path: `${url.pathname}${url.search}`, method, headers, body, signal });
  const status = `HTTP ${res.statusCode}`;
  if (res.statusCode >= 200 && res.statusCode < 300) {
    await drain(res.body, 64 * 1024);
    return { ok: true, output: status };
  }
  const text = (await readHead(res.body, 512)).trim();
  return { ok: false, output: text === '' ? status : `${status}: ${truncateOutput(text, 512)}` };
}

// ---- runner ---------------------------------------------------------------

export interface ActionRunnerOptions {
  /** Attempts per run, the first included (default 5). */
  attempts?: number | undefined;
  /** Delay between attempts (default 1 s doubling to 30 s, equal jitter). */
  backoff?: BackoffOptions | undefined;
  /** exec: added to the agent's environment. */
  env?: Record<string, string> | undefined;
  /** queue actions: where they post. */
  queues?: QueuePoster | undefined;
  /**
   * Each attempt's result, for logs and metrics; `willRetry` says whether
   * another attempt follows. Must not throw.
   */
  onResult?: ((result: ActionResult, attempt: number, willRetry: boolean) => void) | undefined;
}

interface Job {
  input: string | undefined;
  /** A trigger() job: later triggers merge into it while it waits. */
  coalesce: boolean;
  signal?: AbortSignal | undefined;
  settle?: ((last: ActionResult | null) => void) | undefined;
}

/**
 * Runs one action (one named action, or one inline action): at most one run
 * at a time, jobs in arrival order, each retried with backoff until it
 * succeeds or its attempts are spent.
 */
export class ActionRunner {
  private readonly queue: Job[] = [];
  private loop: Promise<void> | undefined;
  private closed = false;
  /** close(): no further attempts; the running one finishes. */
  private readonly stopping = new AbortController();
  /** destroy(): the running attempt is killed too. */
  private readonly killing = new AbortController();
  private readonly attempts: number;
  private readonly backoff: BackoffOptions;

  constructor(
    readonly spec: ActionSpec,
    private readonly opts: ActionRunnerOptions = {},
  ) {
    this.attempts = Math.max(1, opts.attempts ?? 5);
    this.backoff = opts.backoff ?? { initialMs: 1000, maxMs: 30_000, jitter: 0.5 };
  }

  /**
   * Asks for a run; coalesced. Triggers that arrive before a run starts
   * (the same tick included: the loop starts on setImmediate) make one run,
   * with the latest input; triggers while it runs make exactly one more.
   * A pending trigger also ends the running job's retries early: the new run
   * is the retry. Ignored after close().
   */
  trigger(input?: string): void {
    if (this.closed) return;
    const waiting = this.queue.find((j) => j.coalesce);
    if (waiting !== undefined) waiting.input = input;
    else this.enqueue({ input, coalesce: true });
  }

  /**
   * Queues one run that is never merged with another (a hook's event), after
   * the jobs already queued. Resolves with its last attempt's result, or null
   * when no attempt ran (closed, or `signal` aborted first); never rejects.
   * Aborting `signal` cancels its remaining retries; a running attempt finishes.
   */
  run(input?: string, signal?: AbortSignal): Promise<ActionResult | null> {
    if (this.closed || signal?.aborted) return Promise.resolve(null);
    return new Promise((settle) => this.enqueue({ input, coalesce: false, signal, settle }));
  }

  /** Cancels queued jobs and retries, then waits for the running attempt (bounded by its timeout). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopping.abort();
    for (const job of this.queue.splice(0)) job.settle?.(null);
    await this.loop;
  }

  /** close(), also killing the running attempt (its process group, or its request). */
  async destroy(): Promise<void> {
    this.killing.abort();
    await this.close();
  }

  private enqueue(job: Job): void {
    this.queue.push(job);
    this.startLoop();
  }

  private startLoop(): void {
    this.loop ??= new Promise<void>((r) => setImmediate(r))
      .then(() => this.drain())
      .finally(() => {
        this.loop = undefined;
        if (this.queue.length > 0 && !this.closed) this.startLoop(); // queued after drain's last look
      });
  }

  private async drain(): Promise<void> {
    while (!this.closed) {
      const job = this.queue.shift();
      if (job === undefined) return;
      let last: ActionResult | null = null;
      try {
        last = await this.attemptAll(job);
      } finally {
        job.settle?.(last);
      }
    }
  }

  /** The job's attempts with backoff between them; returns the last result (null if none ran). */
  private async attemptAll(job: Job): Promise<ActionResult | null> {
    const stop = job.signal ? AbortSignal.any([this.stopping.signal, job.signal]) : this.stopping.signal;
    const backoff = new Backoff(this.backoff);
    let last: ActionResult | null = null;
    for (let attempt = 1; attempt <= this.attempts && !stop.aborted; attempt++) {
      try {
        last = await runAction(this.spec, { input: job.input, env: this.opts.env, queues: this.opts.queues, signal: this.killing.signal });
      } catch {
        return last; // destroy() killed it
      }
      const superseded = job.coalesce && this.queue.some((j) => j.coalesce);
      const willRetry = !last.ok && attempt < this.attempts && !superseded && !stop.aborted;
      this.opts.onResult?.(last, attempt, willRetry);
      if (!willRetry) return last;
      await sleep(backoff.next(), stop); // not unref'd: a pending retry is work we were asked to do
    }
    return last;
  }
}
