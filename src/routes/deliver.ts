import type { Clock } from '../lib/clock.js';
import { messageKey, newMessageIds, queueKeys } from '../queues/keys.js';
import type { Queues } from '../queues/queues.js';
import { encodeMessage } from '../queues/records.js';
import type { RegistryEvent } from '../registry/types.js';
import type { Entry, Op, Store } from '../store/store.js';
import { routeKeys, type CursorRecord } from './keys.js';
import type { EventRoute } from './types.js';

/** The Client-ID of messages the server delivers (consumers listing with echo=false still see them). */
export const ROUTE_CLIENT_ID = '00000000-0000-4000-8000-00000000e016';
const MAX_ATTEMPTS = 16;

export interface DeliveryTarget {
  store: Store;
  queues: Queues;
  clock: Clock;
}

/**
 * Writes `events` (already filtered, in feed order) into the route's queue
 * and moves the cursor to `lastId`, in ONE txn that compares the cursor's
 * revision and the queue's marker counter. That is the exactly-once: a
 * second server, or a restart re-reading the same page, finds the cursor
 * moved and writes nothing; a crash leaves either both or neither.
 * Returns the cursor's new revision when written, or null when the cursor
 * moved under us (another server delivered; the caller re-reads it). The messages are written as the queues' own poster
 * writes them (records.ts), so the queues' change feed wakes waiting claimers.
 */
export async function deliver(
  t: DeliveryTarget,
  tenant: string,
  route: EventRoute,
  cursor: Entry,
  events: RegistryEvent[],
  lastId: string,
): Promise<number | null> {
  const cur = JSON.parse(cursor.value) as CursorRecord;
  const next: CursorRecord = { m: lastId, d: cur.d + events.length };
  const cursorOp: Op = { type: 'put', key: cursor.key, value: JSON.stringify(next) };
  const cursorCompare = { key: routeKeys.cursor(tenant, route.id), op: 'modRevision' as const, revision: cursor.modRevision };
  if (events.length === 0) {
    const r = await t.store.txn([cursorCompare], [cursorOp]);
    return r.succeeded ? r.revision : null;
  }

  const qk = queueKeys(tenant, route.queue);
  const bodies = events.map((ev) => JSON.stringify(ev));
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    let entry = await t.store.get(qk.counter);
    if (entry === undefined) {
      // Deleted since the route was set: recreate it (documented).
      await t.queues.createQueue(tenant, route.queue);
      entry = await t.store.get(qk.counter);
      if (entry === undefined) continue;
    }
    const counter = { n: Number(entry.value), rev: entry.modRevision };
    const now = t.clock.now();
    const ids = newMessageIds(counter.n + 1, events.length);
    const ops: Op[] = bodies.map((body, i) => ({
      type: 'put',
      key: messageKey(qk, counter.n + 1 + i),
      value: encodeMessage({ i: ids[i] as string, c: ROUTE_CLIENT_ID, t: now, e: now + route.ttl * 1000 }, body),
    }));
    ops.push({ type: 'put', key: qk.counter, value: String(counter.n + events.length) }, cursorOp);
    const r = await t.store.txn([cursorCompare, { key: qk.counter, op: 'modRevision', revision: counter.rev }], ops);
    if (r.succeeded) return r.revision;
    const now2 = await t.store.get(cursor.key);
    if (now2?.modRevision !== cursor.modRevision) return null;
    // Only the counter moved (someone posted): take the next markers.
  }
  throw new Error(`event route ${route.id}: too many concurrent posts on queue ${route.queue}`);
}
