import type { Message } from './types.js';

/** A stored message. Short field names: a queue holds many of them. Times are ms since the epoch. */
export interface MessageRecord {
  /** Id (the marker part is redundant with the key; kept whole for cheap matching). */
  i: string;
  /** Poster's Client-ID, canonical form (for echo). */
  c: string;
  /** Posted at. */
  t: number;
  /** Expires at (pushed later by claims, never earlier). */
  e: number;
  b: unknown;
  /** Claim id, when claimed (possibly expired: check `x`). */
  k?: string;
  /** Claim expires at. */
  x?: number;
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
export function toMessage(m: MessageRecord, now: number, claimId?: string): Message {
  const msg: Message = {
    id: m.i,
    ttl: Math.round((m.e - m.t) / 1000),
    age: Math.max(0, Math.floor((now - m.t) / 1000)),
    body: m.b,
  };
  if (claimId !== undefined) msg.claimId = claimId;
  return msg;
}

/** The message freed of its claim (the extended lifetime stays). */
export function unclaimed(m: MessageRecord): MessageRecord {
  const { k: _k, x: _x, ...rest } = m;
  return rest;
}
