import { MAX_ATTEMPTS, type Ctx } from './context.js';
import { yieldTurn } from './turns.js';
import { queueFault } from './faults.js';
import { messageKey, recordsPrefix, type QueueKeys } from './keys.js';
import { decode, decodeHeader, isClaimed, isExpired, type MessageRecord, type QueueRecord } from './records.js';
import type { Project, QueueList, QueueListItem, QueueStats, StatsMessage } from './types.js';

/** True when created; false when it existed. The counter is created with the record (posts compare it). */
export async function createQueue(ctx: Ctx, keys: QueueKeys): Promise<boolean> {
  const rec: QueueRecord = { m: {} };
  const r = await ctx.store.txn(
    [{ key: keys.record, op: 'absent' }],
    [
      { type: 'put', key: keys.record, value: JSON.stringify(rec) },
      { type: 'put', key: keys.counter, value: '0' },
    ],
  );
  return r.succeeded;
}

export async function queueExists(ctx: Ctx, keys: QueueKeys): Promise<boolean> {
  return (await ctx.store.get(keys.record)) !== undefined;
}

/** Deletes the record and everything under the queue's data prefix (messages, claims, counter) in one txn. */
export async function deleteQueue(ctx: Ctx, keys: QueueKeys): Promise<void> {
  await ctx.store.txn(
    [],
    [
      { type: 'delete', key: keys.record },
      { type: 'deleteRange', start: keys.data, end: `${keys.data}\uffff` },
    ],
  );
  ctx.hints.forget(keys.id);
}

export async function listQueues(
  ctx: Ctx,
  project: Project,
  opts: { marker: string | undefined; limit: number; detailed: boolean },
): Promise<QueueList> {
  const prefix = recordsPrefix(project);
  const from = opts.marker === undefined ? prefix : `${prefix}${opts.marker}\u0000`;
  const { entries } = await ctx.store.range(prefix, { from, limit: opts.limit });
  const queues = entries.map((e): QueueListItem => {
    const item: QueueListItem = { name: e.key.slice(prefix.length) };
    if (opts.detailed) item.metadata = decode<QueueRecord>(e.value).m;
    return item;
  });
  return { queues };
}

export async function getMetadata(ctx: Ctx, keys: QueueKeys): Promise<Record<string, unknown>> {
  const e = await ctx.store.get(keys.record);
  if (e === undefined) throw queueFault('notFound', 'Queue not found.');
  return decode<QueueRecord>(e.value).m;
}

/** Replaces the document; the compare makes sure the queue was not deleted in between. */
export async function setMetadata(ctx: Ctx, keys: QueueKeys, doc: Record<string, unknown>): Promise<void> {
  const value = JSON.stringify({ m: doc } satisfies QueueRecord);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const e = await ctx.store.get(keys.record);
    if (e === undefined) throw queueFault('notFound', 'Queue not found.');
    const r = await ctx.store.txn([{ key: keys.record, op: 'modRevision', revision: e.modRevision }], [{ type: 'put', key: keys.record, value }]);
    if (r.succeeded) return;
  }
  throw queueFault('unavailable', 'Too many concurrent writers on this queue; try again.');
}

const STATS_PAGE = 1000;

/** Counts by reading every message header (paged): exact filtering of expired ones needs them. */
export async function getStats(ctx: Ctx, keys: QueueKeys): Promise<QueueStats> {
  if (!(await queueExists(ctx, keys))) throw queueFault('notFound', 'Queue not found.');
  const now = ctx.clock.now();
  let total = 0;
  let claimed = 0;
  let oldest: MessageRecord | undefined;
  let newest: MessageRecord | undefined;
  let from = messageKey(keys, 1);
  for (;;) {
    const { entries } = await ctx.store.range(keys.messages, { from, limit: STATS_PAGE });
    for (const e of entries) {
      const m = decodeHeader(e.value);
      if (isExpired(m, now)) continue;
      total++;
      if (isClaimed(m, now)) claimed++;
      oldest ??= m;
      newest = m;
    }
    if (entries.length < STATS_PAGE) break;
    from = `${(entries[entries.length - 1] as { key: string }).key}\u0000`;
    await yieldTurn();
  }
  const stats: QueueStats = { claimed, free: total - claimed, total };
  if (oldest !== undefined && newest !== undefined) {
    stats.oldest = statsMessage(oldest, now);
    stats.newest = statsMessage(newest, now);
  }
  return stats;
}

function statsMessage(m: MessageRecord, now: number): StatsMessage {
  return {
    id: m.i,
    age: Math.max(0, Math.floor((now - m.t) / 1000)),
    created: `${new Date(m.t).toISOString().slice(0, 19)}Z`,
  };
}
