import { describe, expect, it } from 'vitest';
import { Hints } from '../../src/queues/hints.js';

describe('claim hints', () => {
  it('a scan moves the start past what it read; the earliest skipped claim expiry resets it', () => {
    const h = new Hints();
    const s = h.start('q', 0);
    expect(s.from).toBe(1);
    h.settle('q', s, { low: 21, skippedExpiry: 5000 });
    expect(h.start('q', 4999).from).toBe(21);
    expect(h.start('q', 5000).from).toBe(1);
  });

  it('a message freed below the start lowers it, and a scan that raced with that does not raise it again', () => {
    const h = new Hints();
    h.settle('q', h.start('q', 0), { low: 50, skippedExpiry: Infinity });
    const racing = h.start('q', 0);
    h.lower('q', 10);
    h.settle('q', racing, { low: 80, skippedExpiry: Infinity });
    expect(h.start('q', 0).from).toBe(10);
  });

  it('a message freed during a scan, at or above its start, caps what the scan settles', () => {
    const h = new Hints();
    const s = h.start('q', 0);
    expect(h.matters('q', 30)).toBe(true);
    h.lower('q', 30);
    h.settle('q', s, { low: 80, skippedExpiry: Infinity });
    expect(h.start('q', 0).from).toBe(30);
    expect(h.matters('q', 31)).toBe(true);
  });

  it('messages freed past a scan (new posts) do not hold it back', () => {
    const h = new Hints();
    const s = h.start('q', 0);
    h.lower('q', 200);
    h.settle('q', s, { low: 80, skippedExpiry: Infinity });
    expect(h.start('q', 0).from).toBe(80);
  });
});
