import { STATUS_CODES } from 'node:http';
import { Agent, type Dispatcher } from '../client/undici.js';
import { TetherError } from '../errors.js';
import type { ProbeSpec } from '../manifest/model.js';
import { runCancellable, type Report, type Verdict } from './attempt.js';
import type { Probe } from './probe.js';

type HttpSpec = Extract<ProbeSpec, { kind: 'http' }>;

/** At most this much of a body is read to look for `bodyContains`. */
export const BODY_LIMIT_BYTES = 64 * 1024;

const USER_AGENT = 'tether-probe';

// Two shared keep-alive pools: certificate checking is a property of the
// connection, so skip-verify probes must never reuse a verified pool's
// sockets, nor the other way round.
let verifyingAgent: Agent | undefined;
let skipVerifyAgent: Agent | undefined;

function agentFor(skipVerify: boolean): Agent {
  if (skipVerify) return (skipVerifyAgent ??= new Agent({ connect: { rejectUnauthorized: false } }));
  return (verifyingAgent ??= new Agent({ connect: { rejectUnauthorized: true } }));
}

/**
 * Closes the shared connection pools (idle keep-alive sockets); the next
 * HTTP probe opens new ones. For the agent's shutdown and for tests.
 */
export async function closeHttpProbeAgents(): Promise<void> {
  const agents = [verifyingAgent, skipVerifyAgent];
  verifyingAgent = skipVerifyAgent = undefined;
  await Promise.all(agents.map((a) => a?.close()));
}

/**
 * An HTTP probe: healthy when the status is in one of the inclusive
 * `expectStatus` ranges and, if set, the first 64 KiB of the body contain
 * `bodyContains`. Redirects are not followed: a 3xx is judged by the ranges.
 *
 * The request (origin, path, headers) is built once, here, and each run is one
 * undici `dispatch` with a small handler: no Readable body stream and no
 * AbortSignal per run (see runCancellable), which halves what a probe
 * allocates and costs. Throws TetherError `probe.invalid` for a URL it cannot parse.
 */
export function createHttpProbe(spec: HttpSpec, timeoutMs: number): Probe {
  let url: URL;
  try {
    url = new URL(spec.url);
  } catch {
    throw new TetherError('probe.invalid', `http probe: not a URL: ${spec.url}`);
  }
  const hasAgent = Object.keys(spec.headers).some((k) => k.toLowerCase() === 'user-agent');
  const request: Dispatcher.DispatchOptions = {
    origin: url.origin,
    path: `${url.pathname}${url.search}`,
    method: spec.method as Dispatcher.HttpMethod,
    headers: hasAgent ? { ...spec.headers } : { 'user-agent': USER_AGENT, ...spec.headers },
  };
  const check: Check = { ranges: spec.expectStatus, needle: spec.bodyContains === null ? null : Buffer.from(spec.bodyContains, 'utf8'), text: spec.bodyContains };
  return {
    run: (signal) =>
      runCancellable(signal, timeoutMs, (report) => {
        const exchange = new Exchange(check, report);
        agentFor(spec.tlsSkipVerify).dispatch(request, exchange);
        return (reason) => exchange.cancel(reason);
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
 * One request's handler. Keeps the status and the first 64 KiB of the body
 * (only with bodyContains), drains up to 64 KiB more so the keep-alive socket
 * can be reused, and aborts the request (closing that socket) beyond that.
 * Reports exactly once: the verdict, or the error (a cancel included).
 */
class Exchange implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  /** Why it was cancelled before undici handed over its controller. */
  private pending: Error | null = null;
  private status = 0;
  private head: Buffer[] = [];
  private headSize = 0;
  private received = 0;
  /** Set when we cut the body short ourselves: the verdict stands. */
  private cut = false;

  constructor(
    private readonly check: Check,
    private readonly report: Report,
  ) {}

  cancel(reason: unknown): void {
    const err = reason instanceof Error ? reason : new Error(String(reason));
    if (this.controller) this.controller.abort(err);
    else this.pending ??= err;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.pending) controller.abort(this.pending);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number): void {
    this.status = statusCode;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.received += chunk.length;
    if (this.check.needle !== null && this.headSize < BODY_LIMIT_BYTES) {
      const part = chunk.subarray(0, BODY_LIMIT_BYTES - this.headSize);
      this.head.push(part);
      this.headSize += part.length;
    }
    if (this.received > BODY_LIMIT_BYTES + DRAIN_LIMIT_BYTES && !this.cut) {
      this.cut = true;
      controller.abort(new Error('response body too large to drain'));
    }
  }

  onResponseEnd(): void {
    this.report.done(this.verdict());
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    if (this.cut) this.report.done(this.verdict());
    else this.report.fail(err);
  }

  private verdict(): Verdict {
    const code = this.status;
    const status = `HTTP ${code} ${STATUS_CODES[code] ?? ''}`.trimEnd();
    const { ranges, needle, text } = this.check;
    if (!ranges.some(([lo, hi]) => code >= lo && code <= hi)) return { ok: false, output: `${status} (expected ${formatRanges(ranges)})` };
    if (needle === null) return { ok: true, output: status };
    const head = this.head.length === 1 ? (this.head[0] as Buffer) : Buffer.concat(this.head);
    if (head.includes(needle)) return { ok: true, output: status };
    return { ok: false, output: `${status}, but the first ${head.length} bytes of the body do not contain ${JSON.stringify(text)}` };
  }
}

function formatRanges(ranges: Array<[number, number]>): string {
  return ranges.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(', ');
}
