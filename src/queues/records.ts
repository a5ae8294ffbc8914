import type { Message } from './types.js';

/**
 * A stored message's header. Short field names: a queue holds many of them.
 * Times are ms since the epoch. The stored value is this header as JSON, a
 * newline, then the body's JSON (JSON.stringify never writes a raw newline),
 * so scans, stats, the sweep and the change feed read the header without
 * parsing bodies, and claims rewrite the header around the body's text.
 */
export interface MessageRecord {
  /** Id (the marker part is redundant with the key; kept whole for cheap matching). */
  i: string;
  /** Poster's Client-ID, canonical form (for echo). */
  c: string;
  /** Posted at. */
  t: number;
  /** Expires at (pushed later by claims, never earlier). */
  e: number;
  /** Claim id, when claimed (possibly expired: check `x`). */
  k?: string;
  /** Claim expires at. */
  x?: number;
}

/** A stored message: its header, and its body as JSON text (parsed only when returned). */
export interface StoredMessage {
  rec: MessageRecord;
  body: string;
}

export function encodeMessage(rec: MessageRecord, body: string): string {
  return `${JSON.stringify(rec)}\n${body}`;
}

export function decodeMessage(value: string): StoredMessage {
  const nl = value.indexOf('\n');
  return { rec: JSON.parse(value.slice(0, nl)) as MessageRecord, body: value.slice(nl + 1) };
}

/** The header only. */
export function decodeHeader(value: string): MessageRecord {
  return JSON.parse(value.slice(0, value.indexOf('\n'))) as MessageRecord;
}

/** A stored claim. */
export interface ClaimRecord {
  /** TTL in seconds, as created or last renewed. */
  t: number;
  /** Created or last renewed at. */
  s: number;
  /** Expires at. */
  x: number;
  /** Markers of the messages it took. */
  m: number[];
}

/** A stored queue. */
export interface QueueRecord {
  m: Record<string, unknown>;
}

export function decode<T>(value: string): T {
  return JSON.parse(value) as T;
}

/** True when the message is under an unexpired claim. */
export function isClaimed(m: MessageRecord, now: number): boolean {
  return m.k !== undefined && (m.x ?? 0) > now;
}

export function isExpired(m: MessageRecord, now: number): boolean {
  return m.e <= now;
}

/** The message as reads return it (spec A13: ttl = expires - posted; ttl - age = remaining life). */
export function toMessage(m: StoredMessage, now: number, claimId?: string): Message {
  const msg: Message = {
    id: m.rec.i,
    ttl: Math.round((m.rec.e - m.rec.t) / 1000),
    age: Math.max(0, Math.floor((now - m.rec.t) / 1000)),
    body: JSON.parse(m.body) as unknown,
  };
  if (claimId !== undefined) msg.claimId = claimId;
  return msg;
}

/** The message freed of its claim (the extended lifetime stays). */
export function unclaimed(m: MessageRecord): MessageRecord {
  const { k: _k, x: _x, ...rest } = m;
  return rest;
}
