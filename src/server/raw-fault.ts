import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Faults written straight onto a socket, for exchanges Node's HTTP server
 * never hands to the pipeline: a request its parser refused (bad header
 * characters, oversized head, a bad method), a head or body that came too
 * slowly, a connection over a cap. They have no request object, so they
 * cannot be told apart as registry or queues calls: they all get the
 * registry's fault body (spec 3.1) and `X-Response-Id`, and the connection
 * closes after them (the parser's state is lost, so nothing more can be read).
 *
 * The fault types are the spec's table; where the HTTP status is not one of
 * them (408, 429, 431) the type is the nearest one and `code` is the status,
 * as spec 3.1 says `code` always is.
 */

export interface RawFault {
  status: number;
  type: string;
  message: string;
  details: string;
}

/** The parser's error codes (llhttp `HPE_*`, Node's `ERR_HTTP_*`) mapped to the fault to answer. */
export function faultForClientError(code: string | undefined): RawFault {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, type: 'badRequest', message: 'Request header fields too large', details: 'The request head exceeds the server\'s limit.' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, type: 'badRequest', message: 'Request timeout', details: 'The request head or body did not arrive in time.' };
    case 'HPE_INVALID_METHOD':
      return { status: 400, type: 'badRequest', message: 'Bad request', details: 'The request method is not valid HTTP.' };
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'HPE_LF_EXPECTED':
    case 'HPE_CR_EXPECTED':
      return { status: 400, type: 'badRequest', message: 'Bad request', details: 'A request header is malformed.' };
    default:
      return { status: 400, type: 'badRequest', message: 'Bad request', details: 'The request is not valid HTTP/1.1.' };
  }
}

/** The fault body of spec 3.1 (key order: type, code, message, details, txnId). */
export function rawFaultBody(fault: RawFault, txnId: string): string {
  return JSON.stringify({ type: fault.type, code: fault.status, message: fault.message, details: fault.details, txnId });
}

/** The bytes of a complete HTTP/1.1 fault response with `Connection: close`. */
export function rawFaultBytes(fault: RawFault, txnId: string): string {
  const body = rawFaultBody(fault, txnId);
  return (
    `HTTP/1.1 ${fault.status} ${STATUS_CODES[fault.status] ?? 'Error'}\r\n` +
    'Content-Type: application/json; charset=UTF-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    `X-Response-Id: ${txnId}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}

/**
 * Writes the fault and closes: the socket is destroyed once the bytes are
 * handed to the kernel (not when the peer reads them), so a peer that never
 * reads cannot keep the descriptor. Does nothing but destroy when the socket
 * cannot be written.
 */
export function writeRawFault(socket: Duplex, fault: RawFault, txnId: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(rawFaultBytes(fault, txnId), () => socket.destroy());
}
