import { randomBytes } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { hasCode } from '../lib/errors.js';
import { RegistryFault, faults } from '../registry/faults.js';
import { registryQuotaFault } from './quota/quota-faults.js';
import type { ApiRequest, ApiResponse } from './exchange.js';
import type { ServerState } from './state.js';

/**
 * Wire-level helpers: transaction ids, the content-type and body rules of
 * spec 1.3, and replies with the headers of spec 1.4.
 */

/** Spec 1.3: a body of this many bytes or more gets 413; the largest accepted body is 4999 bytes. */
export const MAX_BODY = 5000;

const JSON_TYPE = 'application/json; charset=UTF-8';
const WWW_AUTHENTICATE = 'Keystone uri="tether"';

// ---- transaction ids ----

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const ALNUM = `${LOWER}ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789`;
// Random characters are drawn from a pool refilled 4 KiB at a time: one
// crypto call per ~300 requests instead of one per request.
let pool = randomBytes(4096);
let poolPos = 0;

function randomChars(alphabet: string, n: number): string {
  if (poolPos + n > pool.length) {
    pool = randomBytes(4096);
    poolPos = 0;
  }
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[(pool[poolPos++] as number) % alphabet.length];
  return s;
}

/** Ids from a proxy are used as they are when they are printable ASCII and not absurdly long. */
const RP_ID_RE = /^[\x21-\x7e]{1,200}$/;

/**
 * The transaction id: the `X-RP-Request-Id` request header when present,
 * else `.rh-<4>.h-<hostname>.r-<8>.c-<counter>.ts-<ms>.v-0.1` (spec 1.4).
 */
export function transactionId(header: string | string[] | undefined, state: ServerState): string {
  if (typeof header === 'string' && RP_ID_RE.test(header)) return header;
  state.counter = (state.counter + 1) % Number.MAX_SAFE_INTEGER;
  // One flat string (join copies the parts): a template literal makes a tree of 8 cons strings (~0.3 KB),
  // which a long-poll holds, on its request, for as long as it waits.
  return ['.rh-', randomChars(LOWER, 4), '.h-', state.hostname, '.r-', randomChars(ALNUM, 8), '.c-', state.counter, '.ts-', Date.now(), '.v-0.1'].join('');
}

// ---- request checks ----

/**
 * Spec 1.3: missing (or empty) means JSON; the type is lower-cased and any
 * `;...` parameters dropped; anything but `application/json` throws 400.
 */
export function checkContentType(header: string | undefined): void {
  if (header === undefined || header === 'application/json') return;
  const semi = header.indexOf(';');
  const type = (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
  if (type !== '' && type !== 'application/json') throw faults.unsupportedContentType(type);
}

/**
 * The JSON body: undefined when empty (the registry treats it as `{}`), the
 * parsed value otherwise (literal `null` stays null: the registry answers
 * "Empty Request Body"). Throws `Failed to parse request body: ...`.
 */
export function parseBody(req: ApiRequest): unknown {
  const parts = req.bodyParts;
  if (parts === null) return undefined;
  const buf = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, req.bodyLength);
  try {
    return JSON.parse(buf.toString('utf8')) as unknown;
  } catch (err) {
    throw faults.parseError(err instanceof Error ? err.message : String(err));
  }
}

// ---- absolute URLs ----

/**
 * `{scheme}://{host}` of this request (spec 1.4, AMB-2): https when the socket
 * is TLS or `X-Forwarded-Proto` says https; the Host header with its port,
 * or the local address when a (HTTP/1.0) client sent none.
 */
export function origin(req: ApiRequest): string {
  const xfp = req.headers['x-forwarded-proto'];
  const https =
    (req.socket as TLSSocket).encrypted === true ||
    (typeof xfp === 'string' && xfp.slice(0, 5).toLowerCase() === 'https' && (xfp.length === 5 || xfp[5] === ','));
  let host = req.headers.host;
  if (host === undefined || host === '') {
    const s = req.socket;
    host = s.localAddress?.includes(':') ? `[${s.localAddress}]:${s.localPort}` : `${s.localAddress}:${s.localPort}`;
  }
  return `${https ? 'https' : 'http'}://${host}`;
}

/** `{scheme}://{host}/v1.0/{tenant}/{collection}/{id}`; ids are validated, so they need no escaping. */
export function locationOf(req: ApiRequest, tenant: string, collection: string, id: string): string {
  return `${origin(req)}/v1.0/${tenant}/${collection}/${id}`;
}

// ---- replies ----

function writable(res: ApiResponse): boolean {
  return !res.headersSent && !res.destroyed;
}

/** A JSON reply; `location` adds a Location header. Does nothing when the client is gone. */
export function sendJson(req: ApiRequest, res: ApiResponse, status: number, value: unknown, location?: string): void {
  if (!writable(res)) return;
  const body = JSON.stringify(value);
  const headers = ['Content-Type', JSON_TYPE, 'Content-Length', String(Buffer.byteLength(body)), 'X-Response-Id', req.txnId];
  if (location !== undefined) headers.push('Location', location);
  if (req.api.closing) headers.push('Connection', 'close');
  res.writeHead(status, headers);
  res.end(body);
}

/** A 200-style JSON reply from bytes serialized once and sent to many (a page shared by a wake). */
export function sendJsonBytes(req: ApiRequest, res: ApiResponse, status: number, body: Buffer): void {
  if (!writable(res)) return;
  const headers = ['Content-Type', JSON_TYPE, 'Content-Length', String(body.length), 'X-Response-Id', req.txnId];
  if (req.api.closing) headers.push('Connection', 'close');
  res.writeHead(status, headers);
  res.end(body);
}

/** A 204 reply (no body, no Content-Type), with Location when given. */
export function sendNoContent(req: ApiRequest, res: ApiResponse, location?: string): void {
  if (!writable(res)) return;
  const headers = ['X-Response-Id', req.txnId];
  if (location !== undefined) headers.push('Location', location);
  if (req.api.closing) headers.push('Connection', 'close');
  res.writeHead(204, headers);
  res.end();
}

/** A fault reply (spec 3.1), with WWW-Authenticate on 401. */
export function sendFault(req: ApiRequest, res: ApiResponse, fault: RegistryFault): void {
  if (!writable(res)) return;
  const body = JSON.stringify(fault.toBody(req.txnId));
  const headers = ['Content-Type', JSON_TYPE, 'Content-Length', String(Buffer.byteLength(body)), 'X-Response-Id', req.txnId];
  if (fault.status === 401) headers.push('WWW-Authenticate', WWW_AUTHENTICATE);
  if (req.api.closing || fault.status === 503) headers.push('Connection', 'close');
  res.writeHead(fault.status, headers);
  res.end(body);
}

/**
 * The bare 413 of spec 1.3: empty body, `Connection: close`. Node's server
 * then ends the socket once the reply is flushed (destroySoon), discarding
 * whatever the client still sends until then: the body is never buffered.
 */
export function sendTooLarge(req: ApiRequest, res: ApiResponse): void {
  if (!writable(res)) return;
  res.writeHead(413, ['X-Response-Id', req.txnId, 'Content-Length', '0', 'Connection', 'close']);
  res.end();
}

/**
 * The fault to send for `err`: a 4xx RegistryFault as it is; a 5xx one with
 * its type but message and details "Internal Error" (spec 3.1); anything else
 * a 500 internalError. `unexpected` tells the caller to log the error.
 */
export function toFault(err: unknown): { fault: RegistryFault; unexpected: boolean } {
  const quota = registryQuotaFault(err);
  if (quota !== undefined) return { fault: quota, unexpected: false };
  if (err instanceof RegistryFault) {
    // A full database (507) says so: its message is the operator's instruction, not an internal detail.
    if (err.status < 500 || err.type === 'insufficientStorage') return { fault: err, unexpected: false };
    const fault = err.message === 'Internal Error' && err.details === 'Internal Error' ? err : new RegistryFault(err.type, 'Internal Error', 'Internal Error');
    return { fault, unexpected: err.type !== 'systemFailureError' };
  }
  // The store (etcd) lost quorum or cannot be reached: the request can be retried.
  if (hasCode(err, 'store.unavailable')) return { fault: faults.unavailable(), unexpected: false };
  return { fault: faults.internal(), unexpected: true };
}
