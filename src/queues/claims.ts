import type { Entry, Op } from '../store/store.js';
import { MAX_ATTEMPTS, type Ctx } from './context.js';
import { yieldTurn } from './turns.js';
import { queueFault } from './faults.js';
import { isWellFormedId, markerOfKey, messageKey, newClaimId, type QueueKeys } from './keys.js';
import { compareAll } from './messages.js';
import { decode, decodeMessage, encodeMessage, isClaimed, isExpired, toMessage, unclaimed, type ClaimRecord, type MessageRecord, type StoredMessage } from './records.js';
import type { Claim } from './types.js';

interface Candidate extends StoredMessage {
  entry: Entry;
}

/**
 * Claims up to `limit` free messages, oldest first: reads from the queue's
 * hint (skipping the live claims at its head), then writes the claim record
 * and every claimed message in one txn that compares each message's revision,
 * so a message is never in two live claims, whichever server claims it. When
 * another writer got there first, it reads again. Returns null when nothing
 * was free (also for a missing queue).
 */
export async function claimMessages(ctx: Ctx, keys: QueueKeys, ttl: number, grace: number, limit: number): Promise<Claim | null> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const now = ctx.clock.now();
    const expires = now + ttl * 1000;
    const scan = await scanInTurn(ctx, keys, limit, now, expires);
    if (scan.chosen.length === 0) return null;
    const claim = await commitClaim(ctx, keys, scan.chosen, { ttl, grace, now, expires });
    if (claim !== null) return claim;
  }
  return null;
}

/**
 * Scans of one queue take turns, and each moves the hint past what it chose
 * before the next starts (not after its commit): concurrent claims would
 * otherwise all read the same head, skipping each other's reserved messages
 * (a claim read ten times the rows it needed; figures in bench/README.md).
 */
function scanInTurn(ctx: Ctx, keys: QueueKeys, limit: number, now: number, expires: number): Promise<Scan> {
  return ctx.scans.run(keys.id, async () => {
    const start = ctx.hints.start(keys.id, now);
    let found: Scan | undefined;
    try {
      found = await findFree(ctx, keys, start.from, limit, now);
      return found;
    } finally {
      const skippedExpiry = found === undefined ? Infinity : found.chosen.length > 0 ? Math.min(found.skippedExpiry, expires) : found.skippedExpiry;
      ctx.hints.settle(keys.id, start, found === undefined ? undefined : { low: found.next, skippedExpiry });
    }
  });
}

/**
 * Writes the claim: the record and every chosen message, comparing each
 * message's revision. Null when another writer changed one of them first.
 * Releases the reservations either way.
 */
async function commitClaim(
  ctx: Ctx,
  keys: QueueKeys,
  chosen: Candidate[],
  t: { ttl: number; grace: number; now: number; expires: number },
): Promise<Claim | null> {
  let claimed = false;
  try {
    const claimId = newClaimId();
    const taken = chosen.map((c): StoredMessage => ({
      rec: { ...c.rec, k: claimId, x: t.expires, e: Math.max(c.rec.e, t.expires + t.grace * 1000) },
      body: c.body,
    }));
    const claim: ClaimRecord = { t: t.ttl, s: t.now, x: t.expires, m: chosen.map((c) => markerOfKey(c.entry.key)) };
    const ops: Op[] = taken.map((m, i) => ({ type: 'put', key: (chosen[i] as Candidate).entry.key, value: encodeMessage(m.rec, m.body) }));
    ops.push({ type: 'put', key: `${keys.claims}${claimId}`, value: JSON.stringify(claim) });
    const r = await ctx.store.txn(compareAll(chosen.map((c) => c.entry)), ops);
    if (!r.succeeded) return null;
    claimed = true;
    return { id: claimId, ttl: t.ttl, age: 0, messages: taken.map((m) => toMessage(m, t.now, claimId)) };
  } finally {
    for (const c of chosen) ctx.reserved.delete(c.entry.key);
    // Not claimed (another writer won, or the store failed): what is still free below the hint must be found again.
    if (!claimed) ctx.hints.lower(keys.id, markerOfKey((chosen[0] as Candidate).entry.key));
  }
}

/**
 * Most bytes of stored messages one claim takes (at least one message): a
 * claim rewrites each message it takes in one txn, and etcd refuses a request
 * above its `--max-request-bytes` (1.5 MiB by default). The spec lets a claim
 * return fewer messages than `limit`.
 */
export const CLAIM_BYTES = 1024 * 1024;

interface Scan {
  /** Reserved in `ctx.reserved`: the caller must release them. */
  chosen: Candidate[];
  /** Bytes of the chosen messages' stored records. */
  bytes: number;
  /** The marker after the last one read: everything before it is claimed, expired or chosen. */
  next: number;
  skippedExpiry: number;
}

/**
 * Reads from marker `from` until `limit` free messages are found (and
 * reserved) or the queue ends. When a read fails part-way (a store blip, a
 * bad record), what it had reserved is released and found again by the next
 * scan: only commitClaim releases otherwise, and it never runs then.
 */
async function findFree(ctx: Ctx, keys: QueueKeys, from: number, limit: number, now: number): Promise<Scan> {
  const scan: Scan = { chosen: [], bytes: 0, next: from, skippedExpiry: Infinity };
  try {
    return await readFree(ctx, keys, scan, limit, now);
  } catch (err) {
    for (const c of scan.chosen) ctx.reserved.delete(c.entry.key);
    const lowest = scan.chosen[0];
    if (lowest !== undefined) ctx.hints.lower(keys.id, markerOfKey(lowest.entry.key));
    throw err;
  }
}

async function readFree(ctx: Ctx, keys: QueueKeys, scan: Scan, limit: number, now: number): Promise<Scan> {
  const from = scan.next;
  // Small first read (usually enough once the hint skips the claimed head), larger ones after.
  let page = limit + 8;
  let fromKey = messageKey(keys, from);
  for (;; page = Math.min(page * 4, 1000)) {
    const { entries } = await ctx.store.range(keys.messages, { from: fromKey, limit: page });
    for (const entry of entries) {
      scan.next = markerOfKey(entry.key) + 1;
      if (ctx.reserved.has(entry.key)) continue;
      const { rec, body } = decodeMessage(entry.value);
      if (isExpired(rec, now)) continue;
      if (isClaimed(rec, now)) {
        scan.skippedExpiry = Math.min(scan.skippedExpiry, rec.x as number);
        continue;
      }
      const size = Buffer.byteLength(entry.value, 'utf8');
      if (scan.chosen.length > 0 && scan.bytes + size > CLAIM_BYTES) {
        // Left free for the next claim: the hint must not move past it.
        scan.next = markerOfKey(entry.key);
        return scan;
      }
      ctx.reserved.add(entry.key);
      scan.chosen.push({ entry, rec, body });
      scan.bytes += size;
      if (scan.chosen.length === limit) return scan;
    }
    if (entries.length < page) return scan;
    fromKey = `${(entries[entries.length - 1] as Entry).key}\u0000`;
    await yieldTurn();
  }
}

/** The claim record and the messages still under it (live claim only); null when there is no live claim. */
async function readClaim(
  ctx: Ctx,
  keys: QueueKeys,
  claimId: string,
  now: number,
): Promise<{ entry: Entry; claim: ClaimRecord; held: Candidate[] } | null> {
  if (!isWellFormedId(claimId)) return null;
  const entry = await ctx.store.get(`${keys.claims}${claimId}`);
  if (entry === undefined) return null;
  const claim = decode<ClaimRecord>(entry.value);
  if (claim.x <= now) return null;
  const msgs = await ctx.store.getMany(claim.m.map((m) => messageKey(keys, m)));
  const held: Candidate[] = [];
  for (const e of msgs) {
    if (e === undefined) continue;
    const m = decodeMessage(e.value);
    if (m.rec.k === claimId && isClaimed(m.rec, now) && !isExpired(m.rec, now)) held.push({ entry: e, ...m });
  }
  return { entry, claim, held };
}

/** notFound when the claim is unknown, expired, released, or all its messages are gone (spec A12). */
export async function getClaim(ctx: Ctx, keys: QueueKeys, claimId: string): Promise<Claim> {
  const now = ctx.clock.now();
  const found = await readClaim(ctx, keys, claimId, now);
  if (found === null || found.held.length === 0) throw queueFault('notFound', 'Claim not found.');
  return {
    id: claimId,
    ttl: found.claim.t,
    age: Math.max(0, Math.floor((now - found.claim.s) / 1000)),
    messages: found.held.map((h) => toMessage(h, now, claimId)),
  };
}

/** New expiry now + ttl; messages that would expire before it live until it (no grace, spec A19). */
export async function renewClaim(ctx: Ctx, keys: QueueKeys, claimId: string, ttl: number): Promise<void> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const now = ctx.clock.now();
    const found = await readClaim(ctx, keys, claimId, now);
    if (found === null || found.held.length === 0) throw queueFault('notFound', 'Claim not found.');
    const expires = now + ttl * 1000;
    const claim: ClaimRecord = { t: ttl, s: now, x: expires, m: found.held.map((h) => markerOfKey(h.entry.key)) };
    const ops: Op[] = found.held.map((h) => ({
      type: 'put',
      key: h.entry.key,
      value: encodeMessage({ ...h.rec, x: expires, e: Math.max(h.rec.e, expires) } satisfies MessageRecord, h.body),
    }));
    ops.push({ type: 'put', key: found.entry.key, value: JSON.stringify(claim) });
    const r = await ctx.store.txn(compareAll([found.entry, ...found.held.map((h) => h.entry)]), ops);
    if (r.succeeded) return;
  }
  throw queueFault('unavailable', 'Too many concurrent writers on this claim; try again.');
}

/** Frees the claim's remaining messages (their extended lifetimes stay) and drops the record; no-op when unknown. */
export async function releaseClaim(ctx: Ctx, keys: QueueKeys, claimId: string): Promise<void> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const found = await readClaim(ctx, keys, claimId, ctx.clock.now());
    if (found === null) return;
    const ops: Op[] = found.held.map((h) => ({ type: 'put', key: h.entry.key, value: encodeMessage(unclaimed(h.rec), h.body) }));
    ops.push({ type: 'delete', key: found.entry.key });
    const r = await ctx.store.txn(compareAll([found.entry, ...found.held.map((h) => h.entry)]), ops);
    if (r.succeeded) {
      for (const h of found.held) ctx.hints.lower(keys.id, markerOfKey(h.entry.key));
      return;
    }
  }
  throw queueFault('unavailable', 'Too many concurrent writers on this claim; try again.');
}
