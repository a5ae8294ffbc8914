import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool, type Dispatcher } from 'undici';
import { TetherError } from '../../src/lib/errors.js';
import type { Server } from './child.js';
import { LANES, messageBody, type QueueTarget } from './queues-targets.js';

/** Tether's Cloud Queues v1 API over keep-alive undici pools. */

const PROJECT = 'bench';
const TTL = 3600;
const CLAIM = { ttl: 300, grace: 60 };

interface Reply {
  status: number;
  body: unknown;
}

/** One request with the queues headers, its reply read in full (dispatch(): no body stream per reply, as bench/lib/http.ts). */
function send(d: Dispatcher, method: Dispatcher.HttpMethod, path: string, clientId: string, body?: unknown): Promise<Reply> {
  const headers = { 'content-type': 'application/json', accept: 'application/json', 'client-id': clientId, 'x-project-id': PROJECT };
  return new Promise((resolve, reject) => {
    let status = 0;
    const chunks: Buffer[] = [];
    d.dispatch(
      { path, method, headers, body: body === undefined ? null : JSON.stringify(body) },
      {
        onRequestStart: () => {},
        onResponseStart: (_, statusCode) => void (status = statusCode),
        onResponseData: (_, chunk) => void chunks.push(chunk),
        onResponseEnd: () => {
          try {
            const text = Buffer.concat(chunks).toString('utf8');
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

async function expect(d: Dispatcher, method: Dispatcher.HttpMethod, path: string, clientId: string, body: unknown, want: readonly number[]): Promise<Reply> {
  const r = await send(d, method, path, clientId, body);
  if (!want.includes(r.status)) throw new TetherError('bench.badReply', `${method} ${path}: HTTP ${r.status}: ${JSON.stringify(r.body)}`);
  return r;
}

/** The message ids of a claim's reply (hrefs `/v1/queues/q/messages/ID?claim_id=C`). */
function claimedIds(body: unknown): string[] {
  return (body as Array<{ href: string }>).map((m) => m.href.slice(m.href.lastIndexOf('/') + 1).split('?')[0] as string);
}

/** The `marker` of a list reply's next link, or null. */
function nextMarker(body: unknown): string | null {
  const next = (body as { links?: Array<{ rel: string; href: string }> }).links?.find((l) => l.rel === 'next');
  return next === undefined ? null : new URL(next.href, 'http://x').searchParams.get('marker');
}

export function tetherTarget(name: string, server: Server): QueueTarget {
  const pool = new Pool(server.url, { connections: LANES, pipelining: 1 });
  // The latency rounds' consumer and producer each have their own connection.
  const waiter = new Pool(server.url, { connections: 1, pipelining: 1 });
  const producer = new Pool(server.url, { connections: 1, pipelining: 1 });
  const clientId = randomUUID();
  const observer = randomUUID();
  let seq = 0;
  const batch = (n: number): unknown[] => Array.from({ length: n }, () => ({ ttl: TTL, body: messageBody(seq++) }));
  const q = (queue: string): string => `/v1/queues/${queue}`;

  return {
    name,
    server,
    async setup() {
      for (const queue of ['work', 'feed', 'wait']) await expect(pool, 'PUT', q(queue), clientId, undefined, [201, 204]);
    },
    async post(_lane, n) {
      await expect(pool, 'POST', `${q('work')}/messages`, clientId, batch(n), [201]);
    },
    async consume() {
      const r = await expect(pool, 'POST', `${q('work')}/claims?limit=10`, clientId, CLAIM, [201, 204]);
      if (r.status === 204) return 0;
      // One DELETE per message with its claim id, as consume() and zaqar workers do (a bulk `?ids=` skips the claim check).
      const hrefs = (r.body as Array<{ href: string }>).map((m) => m.href);
      for (const href of hrefs) await expect(pool, 'DELETE', href, clientId, undefined, [204]);
      return hrefs.length;
    },
    async fillFeed(n) {
      for (let i = 0; i < n; i += 10) await expect(pool, 'POST', `${q('feed')}/messages`, clientId, batch(Math.min(10, n - i)), [201]);
    },
    async page(_lane, cursor) {
      const marker = cursor === null ? '' : `&marker=${cursor}`;
      const r = await expect(pool, 'GET', `${q('feed')}/messages?limit=10&echo=true${marker}`, observer, undefined, [200, 204]);
      return r.status === 204 ? null : nextMarker(r.body);
    },
    async postToClaimed(parkMs) {
      let sentAt = 0;
      const claimed = expect(waiter, 'POST', `${q('wait')}/claims?limit=10&wait=5`, clientId, CLAIM, [201]).then((r) => ({ r, at: performance.now() }));
      await sleep(parkMs);
      sentAt = performance.now();
      await expect(producer, 'POST', `${q('wait')}/messages`, clientId, batch(1), [201]);
      const { r, at } = await claimed;
      await expect(producer, 'DELETE', `${q('wait')}/messages?ids=${claimedIds(r.body).join(',')}`, clientId, undefined, [204]);
      return at - sentAt;
    },
    async close() {
      await Promise.all([pool.close(), waiter.close(), producer.close()]);
    },
  };
}
