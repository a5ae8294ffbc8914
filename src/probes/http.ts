import { request as httpRequest, STATUS_CODES, type Agent as HttpAgent, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connectHost, keepAliveAgent } from '../lib/http-pool.js';
import { TetherError } from '../lib/errors.js';
import type { ProbeSpec } from '../manifest/model.js';
import { runCancellable, type Report, type Verdict } from './attempt.js';
import type { Probe } from './probe.js';

/*
 * Why node:http (as in src/lib/http-pool.ts): undici's modules and wasm
 * parser cost the agent memory its budget cannot spare; node:http's parser is
 * already in the binary, and its slightly slower client does not matter at
 * probe rates (figures: bench/README.md, "etcd client"). Why not HttpPool itself: a probe run needs no promise, no
 * AbortSignal and no body stream (see runCancellable), and probes of many
 * origins share one agent per TLS mode.
 */

type HttpSpec = Extract<ProbeSpec, { kind: 'http' }>;

/** At most this much of a body is read to look for `bodyContains`. */
export const BODY_LIMIT_BYTES = 64 * 1024;

const USER_AGENT = 'tether-probe';

/**
 * How long an idle keep-alive socket is kept (undici's default), so a server's
 * own idle timeout (5 s for Node, more for most others) rarely closes a socket
 * just as a probe reuses it, which would fail that probe with "socket hang up".
 * A server's `Keep-Alive: timeout=N` hint shortens it to N-1 s. (Without an
 * agent timeout Node keeps idle sockets until the server closes them, hint or
 * not.) On a socket in use it only emits 'timeout', which nothing here heeds:
 * runCancellable owns the probe's timeout.
 */
const IDLE_SOCKET_MS = 4000;

// Shared keep-alive pools, made on first use. Certificate checking is a
// property of the connection, so skip-verify probes get their own HTTPS agent
// and never reuse a verified socket, nor the other way round. Plain HTTP has
// no certificate to check: one agent serves both. Sockets are unlimited per
// host (the default).
let httpAgent: HttpAgent | undefined;
let verifyingAgent: HttpAgent | undefined;
let skipVerifyAgent: HttpAgent | undefined;

function agentFor(tls: boolean, skipVerify: boolean): HttpAgent {
  if (!tls) return (httpAgent ??= keepAliveAgent(false, { idleTimeoutMs: IDLE_SOCKET_MS }));
  if (skipVerify) return (skipVerifyAgent ??= keepAliveAgent(true, { idleTimeoutMs: IDLE_SOCKET_MS, rejectUnauthorized: false }));
  return (verifyingAgent ??= keepAliveAgent(true, { idleTimeoutMs: IDLE_SOCKET_MS, rejectUnauthorized: true }));
}

/**
 * Destroys the shared keep-alive pools' sockets (a probe still in flight on
 * one fails with the socket's error); the next HTTP probe makes new agents.
 * For the agent's shutdown and for tests. Idle sockets are unref'd and would
 * not hold the process open, but they would hold the probed servers'
 * connections until the idle timeout.
 */
export async function closeHttpProbeAgents(): Promise<void> {
  const agents = [httpAgent, verifyingAgent, skipVerifyAgent];
  httpAgent = verifyingAgent = skipVerifyAgent = undefined;
  for (const agent of agents) agent?.destroy();
}

/**
 * An HTTP probe: healthy when the status is in one of the inclusive
 * `expectStatus` ranges and, if set, the first 64 KiB of the body contain
 * `bodyContains`. Redirects are not followed: a 3xx is judged by the ranges.
 *
 * The request options (host, port, path, method, headers) are built once,
 * here; each run is one `http.request` on a shared keep-alive agent with an
 * Exchange listening to its events: no body stream pipeline and no
 * AbortSignal per run (see runCancellable). Throws TetherError
 * `probe.invalid` for a URL it cannot parse.
 */
export function createHttpProbe(spec: HttpSpec, timeoutMs: number): Probe {
  let url: URL;
  try {
    url = new URL(spec.url);
  } catch {
    throw new TetherError('probe.invalid', `http probe: not a URL: ${spec.url}`);
  }
  const tls = url.protocol === 'https:';
  const send = tls ? httpsRequest : httpRequest;
  const hasAgent = Object.keys(spec.headers).some((k) => k.toLowerCase() === 'user-agent');
  // Neither the URL's credentials nor its fragment are sent.
  const options: RequestOptions = {
    // Another scheme makes every run fail with Node's "Protocol ... not supported".
    protocol: url.protocol,
    hostname: connectHost(url),
    port: url.port === '' ? undefined : Number(url.port),
    path: `${url.pathname}${url.search}`,
    method: spec.method,
    headers: hasAgent ? { ...spec.headers } : { 'user-agent': USER_AGENT, ...spec.headers },
  };
  const check: Check = { ranges: spec.expectStatus, needle: spec.bodyContains === null ? null : Buffer.from(spec.bodyContains, 'utf8'), text: spec.bodyContains };
  return {
    run: (signal) =>
      runCancellable(signal, timeoutMs, (report) => {
        // The agent is looked up per run: closeHttpProbeAgents replaces it.
        // http.request copies the options, so setting it here is safe.
        options.agent = agentFor(tls, spec.tlsSkipVerify);
        const req = send(options);
        new Exchange(check, report).listen(req);
        req.end(); // no body: sends the request (a POST or PUT says content-length: 0)
        return (reason) => req.destroy(reason instanceof Error ? reason : new Error(String(reason)));
      }),
  };
}

/** What a response is judged against. */
interface Check {
  ranges: Array<[number, number]>;
  /** `bodyContains` as bytes, or null. */
  needle: Buffer | null;
  text: string | null;
}

/** Ends a response that has more than this left after the part we look at: the socket is closed rather than drained. */
const DRAIN_LIMIT_BYTES = BODY_LIMIT_BYTES;

/**
 * One request's listeners. Keeps the status and the first 64 KiB of the body
 * (only with bodyContains), drains up to 64 KiB more so the keep-alive socket
 * can be reused, and destroys the request (closing that socket) beyond that.
 * Reports exactly once: the verdict, or the first error. A destroy (ours, a
 * cancel's, the server's) is followed by more events (req 'error', res
 * 'aborted' then res 'error'); they are ignored.
 */
class Exchange {
  private settled = false;
  private res: IncomingMessage | null = null;
  private head: Buffer[] = [];
  private headSize = 0;
  private received = 0;

  constructor(
    private readonly check: Check,
    private readonly report: Report,
  ) {}

  listen(req: ClientRequest): void {
    // Connect, TLS and parse errors, "socket hang up" before a response, and a cancel's req.destroy(err).
    req.on('error', (err) => this.fail(err));
    req.on('response', (res) => {
      this.res = res;
      res.on('data', (chunk: Buffer) => this.onData(req, chunk));
      res.on('end', () => this.done());
      // The socket closed before the body's end. 'aborted' comes first; the
      // 'error' after it only says "aborted".
      res.on('aborted', () => this.fail(null));
      res.on('error', (err) => this.fail(err));
    });
  }

  private done(): void {
    if (this.settled) return;
    this.settled = true;
    this.report.done(this.verdict());
  }

  /** `err` null: the connection closed mid-body. */
  private fail(err: Error | null): void {
    if (this.settled) return;
    this.settled = true;
    this.report.fail(err ?? new Error('connection closed before the end of the response body'));
  }

  private onData(req: ClientRequest, chunk: Buffer): void {
    this.received += chunk.length;
    if (this.check.needle !== null && this.headSize < BODY_LIMIT_BYTES) {
      const part = chunk.subarray(0, BODY_LIMIT_BYTES - this.headSize);
      this.head.push(part);
      this.headSize += part.length;
    }
    if (this.received > BODY_LIMIT_BYTES + DRAIN_LIMIT_BYTES && !this.settled) {
      // Too much to drain: the verdict stands (reported first, so the destroy's events are ignored) and the socket is closed.
      this.done();
      req.destroy();
    }
  }

  private verdict(): Verdict {
    const code = (this.res as IncomingMessage).statusCode ?? 0;
    const status = statusLine(code);
    const { ranges, needle, text } = this.check;
    if (!ranges.some(([lo, hi]) => code >= lo && code <= hi)) return { ok: false, output: `${status} (expected ${formatRanges(ranges)})` };
    if (needle === null) return { ok: true, output: status };
    const head = this.head.length === 1 ? (this.head[0] as Buffer) : Buffer.concat(this.head);
    if (head.includes(needle)) return { ok: true, output: status };
    return { ok: false, output: `${status}, but the first ${head.length} bytes of the body do not contain ${JSON.stringify(text)}` };
  }
}

/** "HTTP 200 OK", made once per status code (at most 900: Node parses three digits). */
const statusLines = new Map<number, string>();

function statusLine(code: number): string {
  let line = statusLines.get(code);
  if (line === undefined) statusLines.set(code, (line = `HTTP ${code} ${STATUS_CODES[code] ?? ''}`.trimEnd()));
  return line;
}

function formatRanges(ranges: Array<[number, number]>): string {
  return ranges.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(', ');
}
