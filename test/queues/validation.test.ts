import { describe, expect, it } from 'vitest';
import { isQueueFault } from '../../src/queues/faults.js';
import { DEFAULT_QUEUE_LIMITS } from '../../src/queues/types.js';
import { checkClaimBody, checkMetadata, checkPost, checkWait, markWireChecked, parseClientId } from '../../src/queues/validation.js';

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

  it('skips the size and depth checks of a body its reader checked on the wire within the limit, and only then', () => {
    const limits = { ...DEFAULT_QUEUE_LIMITS, maxMessagePostBytes: 100, maxMetadataBytes: 100 };
    // 1e9 is 3 bytes on the wire and 10 once serialized: the wire size is what the limit means (spec 2.5).
    const post = (): unknown[] => Array.from({ length: 5 }, () => ({ ttl: 60, body: 1e9 }));
    const unmarked = post();
    expect(kindOf(() => checkPost(unmarked, limits))).toBe('invalidApiCall');
    const within = post();
    markWireChecked(within, 100);
    expect(checkPost(within, limits)).toHaveLength(5);
    const beyond = post();
    markWireChecked(beyond, 101);
    expect(kindOf(() => checkPost(beyond, limits))).toBe('invalidApiCall');
    // The mark is invisible to JSON, and skips no shape check.
    expect(JSON.stringify(within)).toBe(JSON.stringify(post()));
    const notObject = ['x'.repeat(200)];
    markWireChecked(notObject, 100);
    expect(kindOf(() => checkMetadata(notObject, limits))).toBe('invalidBody');
    const meta = { k: 'x'.repeat(200) };
    expect(kindOf(() => checkMetadata(meta, limits))).toBe('invalidApiCall');
    markWireChecked(meta, 90);
    expect(checkMetadata(meta, limits)).toBe(meta);
  });
});
