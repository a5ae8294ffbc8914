import { describe, expect, it } from 'vitest';
import { markerOfId, namespaceOf, newClaimId, newMessageIds, parseListMarker, parseMessageKey, queueKeys, messageKey, recordsPrefix } from '../../src/queues/keys.js';

describe('queue keys', () => {
  it('keeps the global namespace apart from every project, and projects apart from each other', () => {
    const spaces = [null, '', 'g', 'p', 'a/b', 'a%2Fb', 'a b', 'JAM Project', '汉字', 'a'].map(namespaceOf);
    expect(new Set(spaces).size).toBe(spaces.length);
    for (const ns of spaces) expect(ns).toMatch(/^[A-Za-z0-9_%-]+$/);
    expect(recordsPrefix('a').startsWith(recordsPrefix(null))).toBe(false);
    expect(recordsPrefix('ab').startsWith(recordsPrefix('a'))).toBe(false);
  });

  it('spells namespaces as stored data already has them, on the plain fast path and the escaping one', () => {
    expect(['bench_1-X', '', 'a b', 'é', 'a/b'].map(namespaceOf)).toEqual(['pbench_1-X', 'p', 'pa%20b', 'p%C3%A9', 'pa%2Fb']);
  });

  it('orders message keys by marker and parses them back', () => {
    const k = queueKeys('proj', 'q');
    const keysInOrder = [1, 2, 10, 999, 123456789].map((m) => messageKey(k, m));
    expect([...keysInOrder].sort()).toEqual(keysInOrder);
    expect(parseMessageKey(messageKey(k, 42))).toEqual({ queueId: k.id, marker: 42 });
    expect(parseMessageKey(k.counter)).toBeNull();
    expect(parseMessageKey(`${k.claims}${'a'.repeat(24)}`)).toBeNull();
  });

  it('message ids carry their marker, are 24 hex digits and differ between calls', () => {
    const a = newMessageIds(7, 3);
    const b = newMessageIds(7, 3);
    for (const id of a) expect(id).toMatch(/^[0-9a-f]{24}$/);
    expect(a.map(markerOfId)).toEqual([7, 8, 9]);
    expect(a[0]).not.toBe(b[0]);
    expect(markerOfId('nope')).toBeNull();
    expect(markerOfId('0'.repeat(24))).toBeNull();
  });

  it('ids drawn from the random pool across its refills stay well formed and distinct', () => {
    // 2,000 posts of 10 and 1,000 claims use ~132 KiB of random bytes: ~33 refills of the 4 KiB pool, and one post larger than it.
    const ids = new Set<string>();
    for (let i = 0; i < 2_000; i++) for (const id of newMessageIds(1 + i * 10, 10)) ids.add(id.slice(12));
    for (let i = 0; i < 1_000; i++) ids.add(newClaimId());
    for (const id of newMessageIds(1, 1_000)) ids.add(id.slice(12));
    expect(ids.size).toBe(22_000);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{12}$|^[0-9a-f]{24}$/);
  });

  it('list markers are decimal text only', () => {
    expect(parseListMarker('12')).toBe(12);
    for (const bad of ['', '-1', '1.5', 'x', '1e3', '9'.repeat(16)]) expect(parseListMarker(bad)).toBeNull();
  });
});
