import { TetherError } from '../../src/lib/errors.js';

/**
 * The client side of HTTP/1.1 at its cheapest, for the followers bench's
 * 10,000 simulated clients: they share the machine's 2 cores with the
 * server they measure, so a full client (undici: a request object, header
 * maps, a body stream, promises per request) would make part of the tail it
 * reports. This reads a response off a raw socket: the status line, the
 * head's Content-Length or `Transfer-Encoding: chunked`, then the body,
 * whole (`onReply`) or, for a stream that does not end (etcd's watch), each
 * decoded chunk as it comes (`onChunk`). Nothing else of the head is parsed.
 */

export interface RawReplyHandlers {
  /** A whole response: status and body (Content-Length or chunked to its end). */
  onReply(status: number, body: Buffer): void;
  /** Chunked bodies only: each chunk's data as it arrives (then onReply with an empty body at the end). */
  onChunk?(status: number, data: Buffer): void;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
const LENGTH_RE = /\r\ncontent-length:[ \t]*(\d+)/i;
const CHUNKED_RE = /\r\ntransfer-encoding:[ \t]*chunked/i;

/** Parses responses on one connection, in order; feed it every 'data' chunk. */
export class RawReplyReader {
  private buf: Buffer | null = null;
  /** -1: reading a head; otherwise the status of the response whose body is being read. */
  private status = -1;
  /** Content-Length body: bytes still wanted; -1 when chunked. */
  private length = 0;
  /** Chunked: bytes left in the current chunk's data (-1: at a size line). */
  private chunkLeft = -1;
  private parts: Buffer[] = [];

  constructor(private readonly handlers: RawReplyHandlers) {}

  push(chunk: Buffer): void {
    this.buf = this.buf === null || this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf !== null && this.buf.length > 0 && this.step()) {
      // each step consumed something
    }
  }

  /** One parsing step on `buf`; false when more bytes are needed. */
  private step(): boolean {
    const buf = this.buf as Buffer;
    if (this.status === -1) {
      const end = buf.indexOf(CRLFCRLF);
      if (end === -1) return false;
      const head = buf.toString('latin1', 0, end + 2);
      if (!head.startsWith('HTTP/1.1 ')) throw new TetherError('bench.badReply', `not an HTTP/1.1 reply: ${JSON.stringify(head.slice(0, 40))}`);
      this.status = Number(head.slice(9, 12));
      this.buf = buf.subarray(end + 4);
      const length = LENGTH_RE.exec(head);
      if (length !== null) {
        this.length = Number(length[1]);
      } else if (CHUNKED_RE.test(head)) {
        this.length = -1;
        this.chunkLeft = -1;
      } else {
        this.length = 0;
      }
      if (this.length === 0) this.done(Buffer.alloc(0));
      return true;
    }
    return this.length >= 0 ? this.fixed(buf) : this.chunked(buf);
  }

  private fixed(buf: Buffer): boolean {
    if (buf.length < this.length) return false;
    const body = buf.subarray(0, this.length);
    this.buf = buf.subarray(this.length);
    this.done(body);
    return true;
  }

  private chunked(buf: Buffer): boolean {
    if (this.chunkLeft === -1) {
      const eol = buf.indexOf(CRLF);
      if (eol === -1) return false;
      const size = Number.parseInt(buf.toString('latin1', 0, eol), 16);
      if (!Number.isFinite(size)) throw new TetherError('bench.badReply', 'bad chunk size line');
      if (size === 0) {
        // The last chunk: no trailers are expected, only its closing CRLF.
        if (buf.length < eol + 4) return false;
        this.buf = buf.subarray(eol + 4);
        const body = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
        this.parts = [];
        this.done(body);
        return true;
      }
      this.chunkLeft = size;
      this.buf = buf.subarray(eol + 2);
      return true;
    }
    // The chunk's data and its CRLF, whole (chunks here are a message each, small).
    if (buf.length < this.chunkLeft + 2) return false;
    const data = buf.subarray(0, this.chunkLeft);
    this.buf = buf.subarray(this.chunkLeft + 2);
    this.chunkLeft = -1;
    if (this.handlers.onChunk !== undefined) this.handlers.onChunk(this.status, data);
    else this.parts.push(data);
    return true;
  }

  private done(body: Buffer): void {
    const status = this.status;
    this.status = -1;
    this.handlers.onReply(status, body);
  }
}
