import { describe, expect, it } from 'vitest';
import {
  faultFromQueuesReply,
  hrefParam,
  idFromHref,
  parseClaim,
  parseMessage,
  parseMessageList,
  parsePostedIds,
  parseQueueList,
  parseStats,
} from '../../src/client/queues-wire.js';
import { idsQuery, query, toJson, waitSeconds, wholeLimit } from '../../src/client/queues-request.js';
import { hasCode } from '../../src/lib/errors.js';
import { isQueueFault } from '../../src/queues/faults.js';

describe('queues wire parsing', () => {
  it('reads ids from hrefs by position, decoded, with or without a query', () => {
    expect(idFromHref('/v1/queues/q/messages/51db6f78c508f17ddc924357')).toBe('51db6f78c508f17ddc924357');
    expect(idFromHref('/v1/480924/queues/q/messages/a%2Fb?claim_id=c1')).toBe('a/b');
    expect(idFromHref('/v1/queues/q/claims/c1/')).toBe('c1');
    expect(() => idFromHref('')).toThrow(/href without an id/);
    expect(hrefParam('/v1/queues/q/messages?echo=true&limit=2&marker=8', 'marker')).toBe('8');
    expect(hrefParam('/v1/queues/q/messages/1', 'marker')).toBeUndefined();
  });

  it('maps a claimed message (claim-style href) and a listed one', () => {
    expect(parseMessage({ href: '/v1/queues/q/messages/m1?claim_id=c9', ttl: 300, age: 2, body: { a: 1 } })).toEqual({
      id: 'm1',
      ttl: 300,
      age: 2,
      body: { a: 1 },
      claimId: 'c9',
    });
    expect(parseMessage({ href: '/v1/queues/q/messages/m2', ttl: 60, age: 0, body: null })).toEqual({ id: 'm2', ttl: 60, age: 0, body: null });
    const bad = (() => {
      try {
        parseMessage({ href: '/v1/queues/q/messages/m2', ttl: '60', age: 0, body: 1 });
      } catch (err) {
        return err;
      }
    })();
    expect(hasCode(bad, 'client.badResponse')).toBe(true);
  });

  it('takes the marker of the next link, queue metadata only when sent, posted ids in order', () => {
    const list = parseMessageList({
      messages: [{ href: '/v1/queues/q/messages/m1', ttl: 300, age: 198, body: 1 }],
      links: [{ rel: 'next', href: '/v1/queues/q/messages?echo=true&limit=2&marker=8' }],
    });
    expect(list).toEqual({ messages: [{ id: 'm1', ttl: 300, age: 198, body: 1 }], marker: '8' });
    expect(parseQueueList({ queues: [{ name: 'a', href: '/v1/queues/a' }, { name: 'b', href: '/v1/queues/b', metadata: { x: 1 } }], links: [] })).toEqual({
      queues: [{ name: 'a' }, { name: 'b', metadata: { x: 1 } }],
    });
    expect(parsePostedIds({ resources: ['/v1/queues/q/messages/b', '/v1/queues/q/messages/a'], partial: false })).toEqual(['b', 'a']);
  });

  it('maps stats (ends only when present) and a claim', () => {
    expect(parseStats({ messages: { claimed: 0, free: 0, total: 0 } })).toEqual({ claimed: 0, free: 0, total: 0 });
    const full = parseStats({
      messages: {
        claimed: 1,
        free: 19,
        total: 20,
        oldest: { age: 12, created: '2014-03-04T20:45:46Z', href: '/v1/queues/d/messages/o1' },
        newest: { age: 3, created: '2014-03-04T20:45:55Z', href: '/v1/queues/d/messages/n1' },
      },
    });
    expect(full.oldest).toEqual({ id: 'o1', age: 12, created: '2014-03-04T20:45:46Z' });
    expect(full.newest?.id).toBe('n1');
    const claim = parseClaim(
      { age: 57, ttl: 300, href: '/v1/queues/d/claims/c1', messages: [{ href: '/v1/queues/d/messages/m?claim_id=c1', ttl: 300, age: 296, body: {} }] },
      'c1',
    );
    expect(claim).toEqual({ id: 'c1', ttl: 300, age: 57, messages: [{ id: 'm', ttl: 300, age: 296, body: {}, claimId: 'c1' }] });
  });

  it('turns error replies into the QueueFault of their status and title', () => {
    const f = faultFromQueuesReply(400, JSON.stringify({ title: 'Missing header', description: 'Client-ID is required' }));
    expect(isQueueFault(f, 'missingHeader')).toBe(true);
    expect((f as unknown as { description: string }).description).toBe('Client-ID is required');
    expect(isQueueFault(faultFromQueuesReply(400, JSON.stringify({ title: 'Invalid queue identification', description: 'x' })), 'invalidQueue')).toBe(true);
    expect(isQueueFault(faultFromQueuesReply(404, ''), 'notFound')).toBe(true);
    expect(isQueueFault(faultFromQueuesReply(403, '{"title":"Unable to delete","description":"claimed"}'), 'forbidden')).toBe(true);
    expect(isQueueFault(faultFromQueuesReply(503, '<html>bad gateway</html>'), 'unavailable')).toBe(true);
    expect(isQueueFault(faultFromQueuesReply(502, ''), 'unavailable')).toBe(true);
    expect(hasCode(faultFromQueuesReply(401, ''), 'client.unauthorized')).toBe(true);
  });
});

describe('queues request building', () => {
  it('writes ids, limits, waits, booleans and bodies as the wire wants them', () => {
    expect(idsQuery(['a', 'b/c', 'd,e'])).toBe('?ids=a,b%2Fc,d%2Ce');
    expect(isQueueFault(catchIt(() => idsQuery([])), 'invalidApiCall')).toBe(true);
    expect(query({ limit: 5, echo: true, include_claimed: false, marker: undefined })).toBe('?limit=5&echo=true&include_claimed=false');
    expect(query({})).toBe('');
    expect(waitSeconds(undefined)).toBeUndefined();
    expect(waitSeconds(0)).toBeUndefined();
    expect(waitSeconds(250)).toBe(0.25);
    expect(waitSeconds(120_000)).toBe(30);
    expect(wholeLimit(1e19)).toBe(1e19);
    expect(isQueueFault(catchIt(() => wholeLimit(2.5)), 'invalidApiCall')).toBe(true);
    expect(isQueueFault(catchIt(() => wholeLimit(Number.NaN)), 'invalidApiCall')).toBe(true);
    expect(toJson({ a: 1 })).toBe('{"a":1}');
    expect(toJson(undefined)).toBeNull();
    expect(isQueueFault(catchIt(() => toJson({ n: 1n })), 'invalidBody')).toBe(true);
  });
});

function catchIt(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}
