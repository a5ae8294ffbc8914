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

/** GREGORIAN_OFFSET split at bit 32, for the Number arithmetic of timeUuidAt. */
const OFFSET_HI = Number(GREGORIAN_OFFSET >> 32n);
const OFFSET_LO = Number(GREGORIAN_OFFSET & 0xffffffffn);
const TWO_16 = 0x10000;
const TWO_32 = 0x100000000;

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

/** A v1 UUID for time `ms`, with random sub-millisecond ticks and clock sequence (for tokens). */
export function timeUuid(ms: number): string {
  // One draw for both: 10000 x 0x4000 is well inside randomInt's range.
  const r = randomInt(10000 * 0x4000);
  return timeUuidAt(ms, r % 10000, Math.floor(r / 10000), NODE);
}

/**
 * What `format(ticksOf(ms, sub), clockSeq, node)` gives, computed on Numbers:
 * a token is made per heartbeat, and the BigInt version allocated a BigInt per
 * step. The 60-bit tick count is kept as two halves, each exact in a double.
 */
export function timeUuidAt(ms: number, sub: number, clockSeq: number, node: string): string {
  const m = Math.floor(ms);
  // ms x 10000 = (msHi x 10000) x 2^16 + msLo x 10000, with msHi x 10000 < 2^51 for any ms below 2^53.
  const msHi = Math.floor(m / TWO_16);
  const p = msHi * 10000;
  const pHi = Math.floor(p / TWO_16);
  const low = (p - pHi * TWO_16) * TWO_16 + (m - msHi * TWO_16) * 10000 + sub + OFFSET_LO;
  const carry = Math.floor(low / TWO_32);
  const high = pHi + OFFSET_HI + carry;
  const highHi = Math.floor(high / TWO_16);
  return `${hex(low - carry * TWO_32, 8)}-${hex(high - highHi * TWO_16, 4)}-${hex((highHi % 0x1000) + 0x1000, 4)}-${hex((clockSeq & 0x3fff) | 0x8000, 4)}-${node}`;
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
