import type { IncomingHttpHeaders } from 'node:http';
import { TetherError } from '../lib/errors.js';
import { POOL_CLOSED, readText, type HttpDispatcher } from '../lib/http-pool.js';

/**
 * One request of an API client (HttpRegistry, HttpQueues): the caller's
 * signal joined with a deadline, a 2xx resolved with its text, anything else
 * rejected with the API's own fault, socket failures mapped to stable codes.
 */

export interface Reply {
  status: number;
  text: string;
  headers: IncomingHttpHeaders;
}

export interface ApiTarget {
  dispatcher: HttpDispatcher;
  origin: string;
  /** Names the client in `client.closed` ("the registry client is closed"). */
  client: string;
  /** Names the server in `client.unreachable` ("registry at http://... is unreachable"). */
  peer: string;
  /** The API's fault for a non-2xx reply. */
  fault(status: number, text: string, headers: IncomingHttpHeaders): Error;
}

export interface ApiCall {
  method: string;
  /** Path and query, sent as is. */
  path: string;
  headers: Record<string, string>;
  body: string | null;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Send again once when a kept-alive connection turns out closed: only for requests that may be applied twice. */
  resendOnReset: boolean;
}

export async function apiCall(target: ApiTarget, call: ApiCall): Promise<Reply> {
  const outer = call.signal;
  // Our own controller joins the caller's signal and the deadline, so we can
  // tell them apart afterwards; the listener is removed in `finally`.
  const ac = new AbortController();
  const onAbort = (): void => ac.abort(outer?.reason);
  outer?.addEventListener('abort', onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort(new TetherError('client.timeout', 'request timed out'));
  }, call.timeoutMs);
  timer.unref();
  try {
    const res = await target.dispatcher.request({
      path: call.path,
      method: call.method,
      headers: call.headers,
      body: call.body,
      signal: ac.signal,
      retryOnReset: call.resendOnReset,
    });
    const text = await readText(res.body);
    if (res.statusCode >= 200 && res.statusCode < 300) return { status: res.statusCode, text, headers: res.headers };
    throw target.fault(res.statusCode, text, res.headers);
  } catch (err) {
    if (outer?.aborted) throw outer.reason;
    if (timedOut) {
      throw new TetherError('client.timeout', `no reply from ${target.origin} within ${call.timeoutMs} ms (${call.method} ${call.path.split('?')[0]})`);
    }
    if (err instanceof TetherError) throw err; // the API's fault from the reply
    throw transportError(err, target);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onAbort);
  }
}

/** Maps a socket failure to a stable code; the token is never part of it (it is never in a URL). */
function transportError(err: unknown, target: ApiTarget): TetherError {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === POOL_CLOSED) return new TetherError('client.closed', `the ${target.client} client is closed`, { cause: err });
  const what = typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
  return new TetherError('client.unreachable', `${target.peer} at ${target.origin} is unreachable (${what})`, { cause: err });
}

export function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
