import { describe, expect, it } from 'vitest';
import { faultFromReply } from '../../src/client/wire-fault.js';

describe('faultFromReply', () => {
  it('rebuilds a fault body', () => {
    const body = JSON.stringify({ type: 'notFoundError', code: 404, message: 'object does not exist', details: 'Object "Service" with key "x" does not exist', txnId: 'abc' });
    const f = faultFromReply(404, body, 'hdr');
    expect([f.type, f.status, f.message, f.details, f.txnId]).toEqual(['notFoundError', 404, 'object does not exist', 'Object "Service" with key "x" does not exist', 'abc']);
  });

  it('keeps object details and a missing details key', () => {
    const route = faultFromReply(404, JSON.stringify({ type: 'notFoundError', message: 'The page cannot be found.', details: { requested_path: '/v1.0/x/y' } }), 'h');
    expect(route.details).toEqual({ requested_path: '/v1.0/x/y' });
    expect(route.txnId).toBe('h');
    const uri = faultFromReply(400, JSON.stringify({ type: 'badRequest', message: 'URI malformed', txnId: 't' }), undefined);
    expect(uri.details).toBeUndefined();
  });

  it('maps the bare 413', () => {
    const f = faultFromReply(413, '', 'rid');
    expect([f.type, f.status, f.message, f.details, f.txnId]).toEqual(['requestTooLargeError', 413, 'Request Entity Too Large', undefined, 'rid']);
  });

  it('classifies non-JSON replies by status', () => {
    expect(faultFromReply(502, '<html>bad gateway</html>', undefined).type).toBe('internalError');
    expect(faultFromReply(503, 'down', undefined).type).toBe('systemFailureError');
    expect(faultFromReply(401, '', undefined).type).toBe('unauthorizedError');
    expect(faultFromReply(418, 'teapot', undefined).type).toBe('badRequest');
  });

  it('classifies an unknown fault type by status and keeps its message', () => {
    const f = faultFromReply(429, JSON.stringify({ type: 'tooManyRequests', message: 'slow down' }), undefined);
    expect([f.type, f.message]).toEqual(['badRequest', 'slow down']);
  });
});
