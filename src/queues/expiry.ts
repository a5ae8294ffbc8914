import type { Entry, Op } from '../store/store.js';
import { yieldTurn } from './turns.js';
import type { Ctx } from './context.js';
import { DATA_PREFIX, RECORDS_PREFIX } from './keys.js';
import { compareAll } from './messages.js';
import { decode, decodeHeader, type ClaimRecord } from './records.js';

const PAGE = 500;
/** Deletes per txn: etcd refuses more than 128 operations in one txn by default. */
const BATCH = 100;

export interface SweepResult {
  queues: number;
  messages: number;
  claims: number;
}

/**
 * Deletes expired messages and claim records of every queue. Reads already
 * filter expired ones exactly (spec A14); this only reclaims their space.
 * Each delete compares the revision it read, so a message claimed or renewed
 * meanwhile, or a sweep by another server at the same time, is left alone.
 * Stops early when `signal` aborts.
 */
export async function sweepExpired(ctx: Ctx, signal: AbortSignal): Promise<SweepResult> {
  const result: SweepResult = { queues: 0, messages: 0, claims: 0 };
  let from = RECORDS_PREFIX;
  for (;;) {
    const { entries } = await ctx.store.range(RECORDS_PREFIX, { from, limit: PAGE });
    for (const q of entries) {
      if (signal.aborted) return result;
      const data = `${DATA_PREFIX}${q.key.slice(RECORDS_PREFIX.length)}/`;
      result.queues++;
      result.messages += await sweepPrefix(ctx, `${data}m/`, (v, now) => decodeHeader(v).e <= now, signal);
      result.claims += await sweepPrefix(ctx, `${data}k/`, (v, now) => decode<ClaimRecord>(v).x <= now, signal);
    }
    if (entries.length < PAGE) return result;
    from = `${(entries[entries.length - 1] as Entry).key}\u0000`;
    await yieldTurn();
  }
}

async function sweepPrefix(ctx: Ctx, prefix: string, expired: (value: string, now: number) => boolean, signal: AbortSignal): Promise<number> {
  let deleted = 0;
  let from = prefix;
  for (;;) {
    const { entries } = await ctx.store.range(prefix, { from, limit: PAGE });
    const now = ctx.clock.now();
    const dead = entries.filter((e) => expired(e.value, now));
    for (let i = 0; i < dead.length && !signal.aborted; i += BATCH) {
      const batch = dead.slice(i, i + BATCH);
      const r = await ctx.store.txn(compareAll(batch), batch.map((e): Op => ({ type: 'delete', key: e.key })));
      if (r.succeeded) deleted += batch.length;
    }
    if (entries.length < PAGE || signal.aborted) return deleted;
    from = `${(entries[entries.length - 1] as Entry).key}\u0000`;
    await yieldTurn();
  }
}
