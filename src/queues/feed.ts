import type { Store, WatchEvent } from '../store/store.js';
import type { Ctx } from './context.js';
import { DATA_PREFIX, parseMessageKey } from './keys.js';
import { decodeHeader, isClaimed } from './records.js';

/**
 * Follows the store's changes to queue data (one watch; on etcd it also sees
 * the other servers' writes): a message written (posted, released, claimed)
 * wakes that queue's waiters, and one written free below a claim hint lowers
 * the hint. Only keys are looked at, except for the rare writes below a hint.
 * Resolves once the watch is in place.
 */
export async function followChanges(ctx: Ctx, store: Store): Promise<void> {
  const from = (await store.watchedRevision()) + 1;
  await store.watch(DATA_PREFIX, from, (events) => onChanges(ctx, events), ctx.closing);
}

function onChanges(ctx: Ctx, events: WatchEvent[]): void {
  if (events.length === 0) {
    // The store lost track of changes: hints may be stale, waiters must look again.
    ctx.hints.clear();
    ctx.waiters.wakeAll();
    return;
  }
  let last = '';
  for (const ev of events) {
    if (ev.type !== 'put' || ev.value === null) continue;
    const parsed = parseMessageKey(ev.key);
    if (parsed === null) continue;
    if (parsed.queueId !== last) {
      ctx.waiters.wake(parsed.queueId);
      last = parsed.queueId;
    }
    if (ctx.hints.matters(parsed.queueId, parsed.marker) && isFreeValue(ev.value, ctx.clock.now())) {
      ctx.hints.lower(parsed.queueId, parsed.marker);
    }
  }
}

function isFreeValue(value: string, now: number): boolean {
  try {
    return !isClaimed(decodeHeader(value), now);
  } catch {
    return true;
  }
}
