import { describe, expect, it } from 'vitest';
import { markerOfId, namespaceOf, newMessageIds, parseListMarker, parseMessageKey, queueKeys, messageKey, recordsPrefix } from '../../src/queues/keys.js';

describe('queue keys', () => {
  it('keeps the global namespace apart from every project, and projects apart from each other', () => {
    const spaces = [null, '', 'g', 'p', 'a/b', 'a%2Fb', 'a b', 'JAM Project', '汉字', 'a'].map(namespaceOf);
    expect(new Set(spaces).size).toBe(spaces.length);
    for (const ns of spaces) expect(ns).toMatch(/^[A-Za-z0-9_%-]+$/);
    expect(recordsPrefix('a').startsWith(recordsPrefix(null))).toBe(false);
    expect(recordsPrefix('ab').startsWith(recordsPrefix('a'))).toBe(false);
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

  it('list markers are decimal text only', () => {
    expect(parseListMarker('12')).toBe(12);
    for (const bad of ['', '-1', '1.5', 'x', '1e3', '9'.repeat(16)]) expect(parseListMarker(bad)).toBeNull();
  });
});
