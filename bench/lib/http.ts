import type { Dispatcher } from 'undici';
import { TetherError } from '../../src/errors.js';

/**
 * The one request shape both systems get in the hot loops: a JSON body over a
 * keep-alive undici dispatcher, the reply read in full. Tether and etcd pay
 * the same client-side cost, so the ratio compares the servers.
 */

const JSON_HEADERS = { 'content-type': 'application/json' };

export interface JsonReply {
  status: number;
  /** The parsed body; undefined when it was empty. */
  body: unknown;
}

export async function sendJson(d: Dispatcher, method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<JsonReply> {
  const res = await d.request({ path, method, headers: JSON_HEADERS, body: body === undefined ? null : JSON.stringify(body) });
  const text = await res.body.text();
  return { status: res.statusCode, body: text === '' ? undefined : JSON.parse(text) };
}

/** `sendJson`, failing (TetherError `bench.badReply`) unless the status is `want`. */
export async function expectJson(d: Dispatcher, method: Dispatcher.HttpMethod, path: string, body: unknown, want: number): Promise<unknown> {
  const reply = await sendJson(d, method, path, body);
  if (reply.status !== want) {
    throw new TetherError('bench.badReply', `${method} ${path}: HTTP ${reply.status} (want ${want}): ${JSON.stringify(reply.body)}`);
  }
  return reply.body;
}
