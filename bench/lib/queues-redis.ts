import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { TetherError } from '../../src/lib/errors.js';
import { LANES, messageBody, type QueueTarget } from './queues-targets.js';
import { redisClient, type RedisServer } from './redis.js';

/**
 * The same workloads on Redis streams: a stream per queue, one consumer
 * group per consumed stream (XREADGROUP = claim, XACK + XDEL = delete),
 * XRANGE from the last id seen = paging with a marker.
 */

const GROUP = 'workers';
type Entries = Array<[id: string, fields: string[]]>;
type ReadReply = Array<[stream: string, entries: Entries]> | null;

export function redisTarget(server: RedisServer): QueueTarget {
  const lanes: Redis[] = Array.from({ length: LANES }, () => redisClient(server.port));
  const waiter = redisClient(server.port);
  const producer = redisClient(server.port);
  const all = [...lanes, waiter, producer];
  for (const r of all) r.on('error', () => {}); // a failed command rejects; a dropped connection shows as errors there
  let seq = 0;
  const json = (): string => JSON.stringify({ ttl: 3600, body: messageBody(seq++) });
  const lane = (i: number): Redis => lanes[i % LANES] as Redis;

  const xadd = async (r: Redis, stream: string, n: number): Promise<void> => {
    if (n === 1) {
      await r.call('XADD', stream, '*', 'm', json());
      return;
    }
    const multi = r.multi();
    for (let i = 0; i < n; i++) multi.call('XADD', stream, '*', 'm', json());
    const results = await multi.exec();
    const failed = results?.find(([err]) => err !== null);
    if (results === null || failed !== undefined) throw new TetherError('bench.badReply', `MULTI XADD failed: ${String(failed?.[0])}`);
  };
  /** XACK + XDEL of `ids` in one round trip. */
  const ackDelete = async (r: Redis, stream: string, ids: string[]): Promise<void> => {
    const results = await r.pipeline().call('XACK', stream, GROUP, ...ids).call('XDEL', stream, ...ids).exec();
    const failed = results?.find(([err]) => err !== null);
    if (failed !== undefined) throw new TetherError('bench.badReply', `XACK/XDEL failed: ${String(failed[0])}`);
  };
  const ids = (reply: ReadReply): string[] => (reply?.[0]?.[1] ?? []).map(([id]) => id);

  return {
    name: 'redis',
    server,
    async setup() {
      const r = lane(0);
      for (const stream of ['work', 'wait']) await r.call('XGROUP', 'CREATE', stream, GROUP, '0', 'MKSTREAM');
    },
    post: (i, n) => xadd(lane(i), 'work', n),
    async consume(i) {
      const r = lane(i);
      const got = ids((await r.call('XREADGROUP', 'GROUP', GROUP, `c${i}`, 'COUNT', '10', 'STREAMS', 'work', '>')) as ReadReply);
      if (got.length === 0) return 0;
      await ackDelete(r, 'work', got);
      return got.length;
    },
    async fillFeed(n) {
      for (let i = 0; i < n; i += 10) await xadd(lane(0), 'feed', Math.min(10, n - i));
    },
    async page(i, cursor) {
      const entries = (await lane(i).call('XRANGE', 'feed', cursor === null ? '-' : `(${cursor}`, '+', 'COUNT', '10')) as Entries;
      return entries.length === 0 ? null : (entries[entries.length - 1] as [string, string[]])[0];
    },
    async postToClaimed(parkMs) {
      let sentAt = 0;
      const claimed = (waiter.call('XREADGROUP', 'GROUP', GROUP, 'waiter', 'COUNT', '10', 'BLOCK', '5000', 'STREAMS', 'wait', '>') as Promise<ReadReply>).then(
        (reply) => ({ got: ids(reply), at: performance.now() }),
      );
      await sleep(parkMs);
      sentAt = performance.now();
      await xadd(producer, 'wait', 1);
      const { got, at } = await claimed;
      if (got.length === 0) throw new TetherError('bench.badReply', 'XREADGROUP BLOCK timed out');
      await ackDelete(producer, 'wait', got);
      return at - sentAt;
    },
    async close() {
      await Promise.all(all.map((r) => r.quit().catch(() => r.disconnect())));
    },
  };
}
