import type { Dispatcher } from 'undici';
import { TetherError } from '../../src/lib/errors.js';

/**
 * The one request shape both systems get in the hot loops: a JSON body over a
 * keep-alive undici dispatcher, the reply read in full. Tether and etcd pay
 * the same client-side cost, so the ratio compares the servers.
 *
 * It uses undici's `dispatch()` with a plain handler rather than `request()`:
 * no Readable body stream per reply. On the 2-core box the load generator
 * shares the CPU with the server, and this cut its cost per request from
 * ~54 us to ~33 us (29k/s instead of 18k/s against a bare node:http server).
 */

const JSON_HEADERS = { 'content-type': 'application/json' };

export interface JsonReply {
  status: number;
  /** The parsed body; undefined when it was empty. */
  body: unknown;
}

/** Rejects with undici's error when there is no reply, or a SyntaxError when the body is not JSON. */
export function sendJson(d: Dispatcher, method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<JsonReply> {
  return new Promise((resolve, reject) => {
    let status = 0;
    const chunks: Buffer[] = [];
    d.dispatch(
      { path, method, headers: JSON_HEADERS, body: body === undefined ? null : JSON.stringify(body) },
      {
        // undici tells the new handler API from the legacy one by this method.
        onRequestStart: () => {},
        onResponseStart: (_, statusCode) => void (status = statusCode),
        onResponseData: (_, chunk) => void chunks.push(chunk),
        onResponseEnd: () => {
          try {
            const text = (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)).toString('utf8');
            resolve({ status, body: text === '' ? undefined : JSON.parse(text) });
          } catch (err) {
            reject(err);
          }
        },
        onResponseError: (_, err) => reject(err),
      },
    );
  });
}

/** `sendJson`, failing (TetherError `bench.badReply`) unless the status is `want`. */
export async function expectJson(d: Dispatcher, method: Dispatcher.HttpMethod, path: string, body: unknown, want: number): Promise<unknown> {
  const reply = await sendJson(d, method, path, body);
  if (reply.status !== want) {
    throw new TetherError('bench.badReply', `${method} ${path}: HTTP ${reply.status} (want ${want}): ${JSON.stringify(reply.body)}`);
  }
  return reply.body;
}
