import { describe, expect, it } from 'vitest';
import { timeUuid, timeUuidAt, uuidProblem, uuidTime } from '../../src/registry/time-uuid.js';

/** The BigInt formula timeUuidAt replaces (RFC 4122 4.2: 100 ns ticks since 1582-10-15). */
function reference(ms: number, sub: number, clockSeq: number, node: string): string {
  const ticks = BigInt(Math.floor(ms)) * 10000n + BigInt(sub) + 0x01b21dd213814000n;
  const timeLow = (ticks & 0xffffffffn).toString(16).padStart(8, '0');
  const timeMid = ((ticks >> 32n) & 0xffffn).toString(16).padStart(4, '0');
  const timeHi = (((ticks >> 48n) & 0x0fffn) | 0x1000n).toString(16).padStart(4, '0');
  const seq = ((clockSeq & 0x3fff) | 0x8000).toString(16).padStart(4, '0');
  return `${timeLow}-${timeMid}-${timeHi}-${seq}-${node}`;
}

describe('timeUuidAt', () => {
  it('equals the BigInt formula over edges and random times, ticks and sequences', () => {
    const times = [0, 1, 65_535, 65_536, 429_496, 429_497, 1_765_000_000_000, 1_765_000_000_000.9, 2 ** 40 - 1, 2 ** 40, 2 ** 43 - 1, 253_402_300_799_999];
    for (let i = 0; i < 20_000; i++) times.push(Math.floor(Math.random() * 2 ** 43));
    for (const ms of times) {
      for (const [sub, seq] of [[0, 0], [9999, 0x3fff], [Math.floor(Math.random() * 10000), Math.floor(Math.random() * 0x4000)]] as const) {
        expect(timeUuidAt(ms, sub, seq, '0123456789ab')).toBe(reference(ms, sub, seq, '0123456789ab'));
      }
    }
  });

  it('makes valid v1 tokens that carry their millisecond', () => {
    for (const ms of [Date.now(), Date.now() + 3_600_000, 1_765_000_123_456.7]) {
      const t = timeUuid(ms);
      expect(uuidProblem(t)).toBeNull();
      expect(uuidTime(t)).toBe(Math.floor(ms));
    }
    // Random ticks and sequence: 100 tokens of one millisecond are (all but surely) distinct.
    expect(new Set(Array.from({ length: 100 }, () => timeUuid(1_765_000_000_000))).size).toBeGreaterThan(95);
  });
});
