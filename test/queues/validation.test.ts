import { describe, expect, it } from 'vitest';
import { isQueueFault } from '../../src/queues/faults.js';
import { DEFAULT_QUEUE_LIMITS } from '../../src/queues/types.js';
import { checkClaimBody, checkPost, checkWait, parseClientId } from '../../src/queues/validation.js';

function kindOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isQueueFault(err)) return err.kind;
    throw err;
  }
  return 'ok';
}

describe('queues validation', () => {
  it('parses Client-IDs as Python uuid.UUID does, into one canonical form', () => {
    const canonical = '3381af92-2b9e-11e3-b191-71861300734c';
    for (const spelling of [canonical, canonical.toUpperCase(), canonical.replace(/-/g, ''), `{${canonical}}`, `urn:uuid:${canonical}`]) {
      expect(parseClientId(spelling)).toBe(canonical);
    }
    expect(kindOf(() => parseClientId(undefined))).toBe('missingHeader');
    expect(kindOf(() => parseClientId(''))).toBe('missingHeader');
    for (const bad of ['1234', '0xdeadbeef', `${canonical}a`, canonical.slice(1), 'g'.repeat(32)]) expect(kindOf(() => parseClientId(bad))).toBe('invalidApiCall');
  });

  it('checks a post in spec order: size, shape, then ranges', () => {
    const big = [{ ttl: 10, body: 'x'.repeat(DEFAULT_QUEUE_LIMITS.maxMessagePostBytes) }];
    expect(kindOf(() => checkPost(big, DEFAULT_QUEUE_LIMITS))).toBe('invalidApiCall');
    expect(kindOf(() => checkPost([{ ttl: 10 }], DEFAULT_QUEUE_LIMITS))).toBe('invalidBody');
    expect(kindOf(() => checkPost([{ ttl: 10, body: 1 }], DEFAULT_QUEUE_LIMITS))).toBe('invalidApiCall');
    expect(checkPost([{ ttl: 60, body: null, extra: 1 }], DEFAULT_QUEUE_LIMITS)).toEqual([{ ttl: 60, body: null }]);
    const capped = { ...DEFAULT_QUEUE_LIMITS, maxMessagesPerPost: 20 };
    expect(kindOf(() => checkPost(Array.from({ length: 21 }, () => ({ ttl: 60, body: 1 })), capped))).toBe('invalidApiCall');
  });

  it('claim bodies: shape before range; waits are capped', () => {
    expect(kindOf(() => checkClaimBody({ ttl: 1 }, DEFAULT_QUEUE_LIMITS))).toBe('invalidBody');
    expect(kindOf(() => checkClaimBody({ ttl: 1, grace: 60 }, DEFAULT_QUEUE_LIMITS))).toBe('invalidApiCall');
    expect(checkClaimBody({ ttl: 60, grace: 43200, x: 1 }, DEFAULT_QUEUE_LIMITS)).toEqual({ ttl: 60, grace: 43200 });
    expect(checkWait(99_000, DEFAULT_QUEUE_LIMITS)).toBe(DEFAULT_QUEUE_LIMITS.maxWaitMs);
    expect(kindOf(() => checkWait(-1, DEFAULT_QUEUE_LIMITS))).toBe('invalidApiCall');
  });
});
