import { describe, expect, it } from 'vitest';
import { isQueueFault } from '../../src/queues/faults.js';
import { outsideInt64, parseJsonBody, type BodyShape } from '../../src/server/queues/json-body.js';

/** The body parser's scan of number literals (spec 2.5): what JSON.parse alone cannot tell. */

function parse(text: string, shape: BodyShape = 'any'): unknown {
  const buf = Buffer.from(text);
  return parseJsonBody([buf], buf.length, shape);
}

function faultOf(text: string, shape: BodyShape = 'any'): string | undefined {
  try {
    parse(text, shape);
    return undefined;
  } catch (err) {
    if (!isQueueFault(err)) throw err;
    return err.kind;
  }
}

describe('queues JSON bodies', () => {
  it('int64 bounds are exact, with or without leading minus', () => {
    expect(outsideInt64('9223372036854775807')).toBe(false);
    expect(outsideInt64('9223372036854775808')).toBe(true);
    expect(outsideInt64('-9223372036854775808')).toBe(false);
    expect(outsideInt64('-9223372036854775809')).toBe(true);
    expect(outsideInt64('1000000000000000000')).toBe(false);
    expect(outsideInt64('10000000000000000000')).toBe(true);
  });

  it('2.5 an overflowing integer anywhere is invalidBody; inside strings or as floats it is data', () => {
    expect(faultOf('{"a": [1, {"b": 9223372036854775808}]}')).toBe('invalidBody');
    expect(faultOf('{"a": "9223372036854775808", "b": "x\\"99999999999999999999\\""}')).toBeUndefined();
    expect(faultOf('{"a": 9.223372036854775808e18, "b": 99999999999999999999.5}')).toBeUndefined();
  });

  it('2.5 ttl/grace as float literals are invalidBody only where they are typed fields', () => {
    expect(faultOf('{"ttl": 300.0, "grace": 60}', 'claim')).toBe('invalidBody');
    expect(faultOf('{"ttl": 300, "grace": 6e1}', 'claim')).toBe('invalidBody');
    expect(faultOf('{"t\\u0074l": 300.0}', 'claim')).toBe('invalidBody');
    expect(faultOf('[{"ttl": 60, "body": 1}, {"body": {"ttl": 1.5}, "ttl": 3E2}]', 'messages')).toBe('invalidBody');
    expect(faultOf('[{"ttl": 60, "body": {"ttl": 1.5, "grace": 2.0}}]', 'messages')).toBeUndefined();
    expect(faultOf('{"body": {"ttl": 1.5}, "ttl": 300, "grace": 60}', 'claim')).toBeUndefined();
    expect(faultOf('{"ttl": 300.0}', 'any')).toBeUndefined();
    // The guard that skips the walk looks for `: 3.` / `: 3e`, with any spacing; digits before a dot elsewhere do not trigger it.
    expect(faultOf('[{"ttl":\n\t-3.0e2, "body": "db-01.example.net"}]', 'messages')).toBe('invalidBody');
    expect(faultOf('[{"ttl":3e2}]', 'messages')).toBe('invalidBody');
    expect(parse('[{"ttl": 300, "body": {"host": "db-01.example.net", "v": "1.2e3"}}]', 'messages')).toEqual([{ ttl: 300, body: { host: 'db-01.example.net', v: '1.2e3' } }]);
  });

  it('keys and strings with escapes, brackets and commas do not confuse the scan', () => {
    const text = '[{"body": {"k\\"ey,[{": "v]}\\\\", "n": [1.5, {"ttl": 2.5}]}, "ttl": 60}]';
    expect(parse(text, 'messages')).toEqual([{ body: { 'k"ey,[{': 'v]}\\', n: [1.5, { ttl: 2.5 }] }, ttl: 60 }]);
  });

  it('empty is undefined; bad JSON and bad UTF-8 are invalidBody', () => {
    expect(parseJsonBody(null, 0, 'any')).toBeUndefined();
    expect(faultOf('{')).toBe('invalidBody');
    expect(faultOf('NaN')).toBe('invalidBody');
    const bad = Buffer.from([0x22, 0xc3, 0x28, 0x22]);
    expect(() => parseJsonBody([bad], bad.length, 'any')).toThrow(/Invalid request body/);
  });
});
