import { randomBytes, randomInt } from 'node:crypto';

/**
 * RFC 4122 version 1 (time-based) UUIDs, as the spec uses them (section 1.6):
 * an event id carries the event time, a heartbeat token carries its deadline.
 */

/** 100 ns intervals between 1582-10-15 and 1970-01-01. */
const GREGORIAN_OFFSET = 0x01b21dd213814000n;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// A random node id per process, with the multicast bit set as RFC 4122 4.5 asks for random nodes.
const NODE = (() => {
  const b = randomBytes(6);
  b[0] = (b[0] ?? 0) | 0x01;
  return b.toString('hex');
})();

function format(ticks: bigint, clockSeq: number, node: string): string {
  const timeLow = (ticks & 0xffffffffn).toString(16).padStart(8, '0');
  const timeMid = ((ticks >> 32n) & 0xffffn).toString(16).padStart(4, '0');
  const timeHi = (((ticks >> 48n) & 0x0fffn) | 0x1000n).toString(16).padStart(4, '0');
  const seq = ((clockSeq & 0x3fff) | 0x8000).toString(16).padStart(4, '0');
  return `${timeLow}-${timeMid}-${timeHi}-${seq}-${node}`;
}

function ticksOf(ms: number, sub: number): bigint {
  return BigInt(Math.floor(ms)) * 10000n + BigInt(sub) + GREGORIAN_OFFSET;
}

/** A v1 UUID for time `ms`, with random sub-millisecond ticks and clock sequence (for tokens). */
export function timeUuid(ms: number): string {
  return format(ticksOf(ms, randomInt(10000)), randomInt(0x4000), NODE);
}

function ticksOfUuid(s: string): bigint {
  return BigInt(`0x${s.slice(15, 18)}${s.slice(9, 13)}${s.slice(0, 8)}`);
}

const COMMIT_CLOCK_SEQ = randomInt(0x4000);

/**
 * The v1 UUID that follows `prev` in time order: time `nowMs`, or one 100 ns
 * tick after `prev` when the clock has not moved past it. Used for commit ids,
 * whose order a store transaction pins to commit order.
 */
export function uuidAfter(prev: string | null, nowMs: number): string {
  let ticks = ticksOf(nowMs, 0);
  if (prev !== null) {
    const next = ticksOfUuid(prev) + 1n;
    if (next > ticks) ticks = next;
  }
  return format(ticks, COMMIT_CLOCK_SEQ, NODE);
}

/** The lowest (`which = 'min'`) or highest v1 UUID of millisecond `ms`: a pure time cursor. */
export function boundaryUuid(ms: number, which: 'min' | 'max'): string {
  return which === 'min'
    ? format(ticksOf(ms, 0), 0, '000000000000')
    : format(ticksOf(ms, 9999), 0x3fff, 'ffffffffffff');
}

/**
 * Checks a v1 UUID as the events API does. Returns null when valid, or the
 * spec's detail text: `Invalid UUID`, `Unsupported UUID variant`, `UUID is not version 1`.
 */
export function uuidProblem(s: string): string | null {
  if (!UUID_RE.test(s)) return 'Invalid UUID';
  const variant = parseInt(s.charAt(19), 16);
  if ((variant & 0xc) !== 0x8) return 'Unsupported UUID variant';
  if (s.charAt(14) !== '1') return 'UUID is not version 1';
  return null;
}

/** The millisecond a valid v1 UUID embeds. */
export function uuidTime(s: string): number {
  return Number((ticksOfUuid(s) - GREGORIAN_OFFSET) / 10000n);
}

/** A string key that sorts like the UUIDs' time order (then clock-seq, node), for storage. */
export function uuidSortKey(s: string): string {
  const l = s.toLowerCase();
  return `${l.slice(15, 18)}${l.slice(9, 13)}${l.slice(0, 8)}${l.slice(19, 23)}${l.slice(24)}`;
}
