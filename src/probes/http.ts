import { STATUS_CODES } from 'node:http';
import { Agent, request } from 'undici';
import type { ProbeSpec } from '../manifest/model.js';
import { runAttempt, type Verdict } from './attempt.js';
import type { Probe } from './probe.js';

type HttpSpec = Extract<ProbeSpec, { kind: 'http' }>;
type ResponseBody = Awaited<ReturnType<typeof request>>['body'];

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
 */
export function createHttpProbe(spec: HttpSpec, timeoutMs: number): Probe {
  return { run: (signal) => runAttempt(signal, timeoutMs, (s) => requestOnce(spec, s)) };
}

/** One request. Rejects with undici's error on a network failure or abort; the body is always consumed or destroyed. */
async function requestOnce(spec: HttpSpec, signal: AbortSignal): Promise<Verdict> {
  const hasAgent = Object.keys(spec.headers).some((k) => k.toLowerCase() === 'user-agent');
  const res = await request(spec.url, {
    method: spec.method,
    headers: hasAgent ? spec.headers : { 'user-agent': USER_AGENT, ...spec.headers },
    dispatcher: agentFor(spec.tlsSkipVerify),
    signal,
  });
  try {
    const status = `HTTP ${res.statusCode} ${STATUS_CODES[res.statusCode] ?? ''}`.trimEnd();
    if (!spec.expectStatus.some(([lo, hi]) => res.statusCode >= lo && res.statusCode <= hi)) {
      return { ok: false, output: `${status} (expected ${formatRanges(spec.expectStatus)})` };
    }
    if (spec.bodyContains === null) return { ok: true, output: status };
    const head = await readHead(res.body, BODY_LIMIT_BYTES);
    if (head.includes(Buffer.from(spec.bodyContains, 'utf8'))) return { ok: true, output: status };
    return { ok: false, output: `${status}, but the first ${head.length} bytes of the body do not contain ${JSON.stringify(spec.bodyContains)}` };
  } finally {
    await release(res.body, signal);
  }
}

/** The first `limit` bytes of `body`; stops reading (destroying the stream) once it has them. */
async function readHead(body: ResponseBody, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size >= limit) break; // leaving the loop destroys the stream
  }
  return Buffer.concat(chunks).subarray(0, limit);
}

/**
 * Consumes what is left of a body so the keep-alive socket can be reused, or
 * destroys it (closing that socket) when more than 64 KiB remain. Never rejects.
 */
async function release(body: ResponseBody, signal: AbortSignal): Promise<void> {
  if (body.destroyed) return;
  try {
    await body.dump({ limit: BODY_LIMIT_BYTES, signal });
  } catch {
    body.destroy();
  }
}

function formatRanges(ranges: Array<[number, number]>): string {
  return ranges.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(', ');
}
