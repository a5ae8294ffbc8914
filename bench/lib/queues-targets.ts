import type { Server } from './child.js';

/**
 * What the queues bench drives: one queue (a Redis stream) per workload, the
 * same message bodies, the same per-lane client concurrency. A lane is one
 * keep-alive connection (Tether) or one Redis connection.
 */
export interface QueueTarget {
  name: string;
  server: Server;
  /** Creates the queues (streams) the workloads use, empty. */
  setup(): Promise<void>;
  /** Posts `n` messages to the `work` queue in one request (Redis: XADD, or MULTI of n XADDs). */
  post(lane: number, n: number): Promise<void>;
  /** Claims up to 10 messages of the `work` queue and deletes them; resolves with how many (0: none free). */
  consume(lane: number): Promise<number>;
  /** Posts `n` messages to the `feed` queue (the pub-sub observers' queue), in batches of 10. */
  fillFeed(n: number): Promise<void>;
  /** Reads the `feed` page of 10 after `cursor` (null: from the start); resolves with the next cursor, null past the end. */
  page(lane: number, cursor: string | null): Promise<string | null>;
  /**
   * One latency round on the empty `wait` queue: a consumer waits (Tether:
   * claim with `wait=`; Redis: XREADGROUP BLOCK); after `parkMs` a producer
   * posts one message; resolves with ms from the post being sent to the
   * consumer holding the message (it is then deleted).
   */
  postToClaimed(parkMs: number): Promise<number>;
  close(): Promise<void>;
}

/** A message body like a small event: the same JSON for both systems. */
export function messageBody(seq: number): { event: string; seq: number; host: string } {
  return { event: 'backup.finished', seq, host: 'db-01.example.net' };
}

/** Lanes per workload: 32 keep-alive connections (the task's shape). */
export const LANES = 32;
