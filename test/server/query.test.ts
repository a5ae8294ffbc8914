import { describe, expect, it } from 'vitest';
import { firstParam, nextHref, paramValues, parseQuery, publicQuery, tokenParam } from '../../src/server/query.js';

describe('query strings', () => {
  it('keeps order, decodes leniently and takes the first of repeated params', () => {
    const q = parseQuery('tag=a+b&limit=1&limit=2&marker=&type=x&type=y&flag&&bad=%80');
    expect(firstParam(q, 'tag')).toBe('a b');
    expect(firstParam(q, 'limit')).toBe('1');
    expect(firstParam(q, 'marker')).toBe('');
    expect(firstParam(q, 'flag')).toBe('');
    expect(firstParam(q, 'missing')).toBeUndefined();
    expect(paramValues(q, 'type')).toEqual(['x', 'y']);
    expect(firstParam(q, 'bad')).toBe('\ufffd');
  });

  it('builds next_href with the marker replaced in place or appended, without tokens', () => {
    const base = 'http://h:1/v1.0/7/services';
    expect(nextHref(base, parseQuery('limit=1'), 'dfw1-db1')).toBe(`${base}?limit=1&marker=dfw1-db1`);
    expect(nextHref(base, parseQuery('tag=db&marker=a&limit=2'), 'b')).toBe(`${base}?tag=db&marker=b&limit=2`);
    expect(nextHref(base, parseQuery('marker=a&limit=2&marker=z'), 'b')).toBe(`${base}?marker=b&limit=2`);
    expect(nextHref(base, parseQuery('x-auth-token=s3cret&limit=2&X-Auth-Token=s'), 'b')).toBe(`${base}?limit=2&marker=b`);
    expect(nextHref(base, parseQuery(''), '/production/cassandra/listen_ip')).toBe(`${base}?marker=/production/cassandra/listen_ip`);
    expect(nextHref(base, parseQuery(''), 'a b&c')).toBe(`${base}?marker=a%20b%26c`);
  });

  it('finds and strips the query token', () => {
    expect(tokenParam(parseQuery('a=1&x-auth-token=t%2B1'))).toBe('t+1');
    expect(tokenParam(parseQuery('a=1'))).toBeUndefined();
    expect(publicQuery('a=1&x-auth-token=secret&b=2')).toBe('a=1&b=2');
    expect(publicQuery('a=1&b=2')).toBe('a=1&b=2');
  });
});
