import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/lib/duration.js';
import { hasCode } from '../../src/lib/errors.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['30d', 2_592_000_000],
    ['90', 90_000],
    ['0', 0],
    ['1.5h', 5_400_000],
    ['0.5', 500],
    ['1.0004s', 1000],
  ])('%s is %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', ' 10s', '10 s', '-5s', '+5s', '10w', '1e3', 's', '.5s', '5.s', '1h30m', 'Infinity', '10S', '9'.repeat(400)])(
    'rejects %j with duration.invalid',
    (text) => {
      let err: unknown;
      try {
        parseDuration(text);
      } catch (e) {
        err = e;
      }
      expect(hasCode(err, 'duration.invalid')).toBe(true);
    },
  );
});
