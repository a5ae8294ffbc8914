import type { Compare, Entry, Op } from '../store/store.js';
import { MAX_ATTEMPTS, type Ctx } from './context.js';
import { yieldTurn } from './turns.js';
import { queueFault } from './faults.js';
import { isWellFormedId, markerOfId, markerOfKey, messageKey, parseListMarker, type QueueKeys } from './keys.js';
import { decodeMessage, isClaimed, isExpired, toMessage, type StoredMessage } from './records.js';
import type { Message, MessageList } from './types.js';

export interface ListQuery {
  clientId: string;
  marker: string | undefined;
  limit: number;
  echo: boolean;
  includeClaimed: boolean;
}

/** One page, oldest first, strictly after the marker. A missing queue has no messages: an empty page. */
export async function listMessages(ctx: Ctx, keys: QueueKeys, q: ListQuery): Promise<MessageList> {
  const after = q.marker === undefined ? 0 : parseListMarker(q.marker);
  if (after === null) return { messages: [] };
  const now = ctx.clock.now();
  const messages: Message[] = [];
  let lastKey: string | undefined;
  let from = messageKey(keys, after + 1);
  // Exactly a page first (pub-sub readers filter out little), larger reads while filtering skips messages.
  let page = q.limit;
  for (;; page = Math.min(page * 4, 1000)) {
    const { entries } = await ctx.store.range(keys.messages, { from, limit: page });
    for (const e of entries) {
      const m = decodeMessage(e.value);
      if (isExpired(m.rec, now) || (!q.includeClaimed && isClaimed(m.rec, now)) || (!q.echo && m.rec.c === q.clientId)) continue;
      messages.push(toMessage(m, now));
      lastKey = e.key;
      if (messages.length === q.limit) return { messages, marker: String(markerOfKey(lastKey)) };
    }
    if (entries.length < page) break;
    from = `${(entries[entries.length - 1] as Entry).key}\u0000`;
    await yieldTurn();
  }
  return lastKey === undefined ? { messages } : { messages, marker: String(markerOfKey(lastKey)) };
}

/** The live messages among `ids` with their entries; malformed, unknown and expired ids are skipped. */
async function readByIds(ctx: Ctx, keys: QueueKeys, ids: readonly string[]): Promise<Array<StoredMessage & { entry: Entry }>> {
  if (ids.length === 1) return readOne(ctx, keys, ids[0] as string);
  const wanted = new Map<string, string>();
  for (const id of ids) {
    const marker = markerOfId(id);
    if (marker !== null) wanted.set(messageKey(keys, marker), id);
  }
  if (wanted.size === 0) return [];
  const entries = await ctx.store.getMany([...wanted.keys()]);
  const now = ctx.clock.now();
  const found: Array<StoredMessage & { entry: Entry }> = [];
  for (const entry of entries) {
    if (entry === undefined) continue;
    const m = decodeMessage(entry.value);
    if (m.rec.i === wanted.get(entry.key) && !isExpired(m.rec, now)) found.push({ entry, ...m });
  }
  return found;
}

/** readByIds of one id (every per-message delete and get): one store get, no map or Promise.all. */
async function readOne(ctx: Ctx, keys: QueueKeys, id: string): Promise<Array<StoredMessage & { entry: Entry }>> {
  const marker = markerOfId(id);
  if (marker === null) return [];
  const entry = await ctx.store.get(messageKey(keys, marker));
  if (entry === undefined) return [];
  const m = decodeMessage(entry.value);
  return m.rec.i === id && !isExpired(m.rec, ctx.clock.now()) ? [{ entry, ...m }] : [];
}

export async function getMessages(ctx: Ctx, keys: QueueKeys, ids: readonly string[]): Promise<Message[]> {
  const found = await readByIds(ctx, keys, ids);
  const now = ctx.clock.now();
  return found.map((f) => toMessage(f, now));
}

export async function getMessage(ctx: Ctx, keys: QueueKeys, id: string): Promise<Message> {
  const [found] = await readByIds(ctx, keys, [id]);
  if (found === undefined) throw queueFault('notFound', 'Message not found.');
  return toMessage(found, ctx.clock.now());
}

/** Deletes those of `ids` that exist, claimed or not (spec A16); a message changed meanwhile is re-read. */
export async function deleteMessages(ctx: Ctx, keys: QueueKeys, ids: readonly string[]): Promise<void> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const found = await readByIds(ctx, keys, ids);
    if (found.length === 0) return;
    const r = await ctx.store.txn(compareAll(found.map((f) => f.entry)), found.map((f): Op => ({ type: 'delete', key: f.entry.key })));
    if (r.succeeded) return;
  }
  throw queueFault('unavailable', 'Too many concurrent writers on these messages; try again.');
}

/**
 * Deletes one message, honouring claims (spec 5.6 and A8): without a claim id
 * a message under a live claim is kept (forbidden); with one, only a message
 * under that live claim is deleted, any other state is forbidden. A malformed
 * claim id, or an unknown message, is a no-op.
 */
export async function deleteMessage(ctx: Ctx, keys: QueueKeys, id: string, claimId: string | undefined): Promise<void> {
  if (claimId !== undefined && !isWellFormedId(claimId)) return;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const [found] = await readByIds(ctx, keys, [id]);
    if (found === undefined) return;
    const now = ctx.clock.now();
    const claimed = isClaimed(found.rec, now);
    if (claimId === undefined ? claimed : !claimed || found.rec.k !== claimId) {
      throw queueFault('forbidden', claimId === undefined ? 'This message is claimed; it cannot be deleted without a valid claim ID.' : 'This message is not under the given claim.');
    }
    const r = await ctx.store.txn(compareAll([found.entry]), [{ type: 'delete', key: found.entry.key }]);
    if (r.succeeded) return;
  }
  throw queueFault('unavailable', 'Too many concurrent writers on this message; try again.');
}

export function compareAll(entries: readonly Entry[]): Compare[] {
  return entries.map((e) => ({ key: e.key, op: 'modRevision', revision: e.modRevision }));
}
