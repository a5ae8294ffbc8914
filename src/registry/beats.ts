import type { Compare, Entry, Op } from '../store/store.js';
import { beatCacheOf, type CachedBeat } from './beat-cache.js';
import { beatLeaseMs, createdBeforeStart, transact, unchanged, type BeatRecord, type Ctx } from './context.js';
import type { DeadlineKind } from './deadlines.js';
import { faults, type RegistryFault } from './faults.js';
import { legacyBeatKey } from './keys.js';
import { legacyBeatsOf } from './legacy-beats.js';
import { timeUuid } from './time-uuid.js';
import type { TokenReply } from './types.js';

export interface BeatTarget {
  tenant: string;
  kind: DeadlineKind;
  id: string;
  /** Key of the durable record (service or session). */
  ownerKey: string;
  /** Key of its lease-bound heartbeat state. */
  beatKey: string;
  /** The fault when the owner does not exist. */
  missing: () => RegistryFault;
  /** The owner's heartbeat timeout in seconds (null when it has no token chain of its own) and creation time. */
  ownerOf: (ownerJson: string) => { timeout: number | null; createdAt: number | undefined };
}

/**
 * The token chain of spec 6.7, shared by services and sessions: `token` must
 * be the current one; it is consumed and the next one (deadline now +
 * timeout) returned. With no heartbeat state at all for something created
 * before this registry process started (the restart dropped lease-bound
 * state), any well-formed token resumes the chain: that is the restart grace. Never touches durable storage on the SQLite store.
 */
export async function advanceBeat(ctx: Ctx, target: BeatTarget, token: string): Promise<TokenReply> {
  const { store } = ctx;
  let granted = 0;
  try {
    const cache = beatCacheOf(ctx);
    const reply = await transact(ctx, async () => {
      // What this server committed last, when the token is the one it handed out (beat-cache.ts): no read.
      const cached = cache?.take(target.beatKey, token);
      const state = cached !== undefined ? fromCache(target, cached) : await readBeat(ctx, target, token);
      const { beat, timeout } = state;
      const now = ctx.clock.now();
      const deadline = now + timeout * 1000;
      let lease = state.lease;
      if (lease === 0) lease = granted || (granted = await store.grantLease(beatLeaseMs(ctx)));
      // The lease is renewed only when a third of its TTL has passed since the last renewal,
      // not on every heartbeat: on etcd a keep-alive is one more round trip per beat.
      const renew = lease !== granted && now - (beat?.renewed_at ?? 0) >= beatLeaseMs(ctx) / 3;
      const next: BeatRecord = { token: timeUuid(deadline), deadline, last_seen: now, renewed_at: renew || lease === granted ? now : (beat?.renewed_at ?? now) };
      const value = JSON.stringify(next);
      const ops: Op[] = [{ type: 'put', key: target.beatKey, value, lease }];
      if (state.legacyKey !== undefined) ops.push({ type: 'delete', key: state.legacyKey });
      return {
        result: { token: next.token, lease, renew },
        compares: state.compares,
        ops,
        // Heartbeats come in crowds: on etcd, waiting a moment for others makes one request of many.
        coalesce: true,
        after: (revision: number) => {
          ctx.deadlines.set(target.tenant, target.kind, target.id, deadline);
          // A store that hands back the string it was given (SQLite) lets the next read skip the parse (beatOf).
          if (cache === undefined) wroteBeat(ctx, target.beatKey, value, next);
          else cache.keep(target.beatKey, { beat: next, revision, lease, ownerRevision: state.ownerRevision, timeout });
        },
      };
    });
    if (reply.lease === granted) granted = 0;
    else if (reply.renew) {
      // The new token is committed and the old one consumed: failing the call now would
      // strand the caller on a dead token. The lease outlives a missed renewal (beatLeaseMs).
      await store.keepAlive(reply.lease).catch((err: unknown) =>
        ctx.log.warn({ err, tenant: target.tenant, id: target.id }, 'heartbeat committed, but renewing its lease failed; the next one renews it'),
      );
    }
    return { token: reply.token };
  } finally {
    if (granted !== 0) await store.revokeLease(granted);
  }
}

interface BeatState {
  beat: BeatRecord | undefined;
  lease: number;
  timeout: number;
  ownerRevision: number;
  compares: Compare[];
  /** The legacy key the chain was read from: the commit moves it to the new layout. */
  legacyKey?: string;
}

/**
 * The state this server committed last: the commit compares both keys' mod
 * revisions, so the owner's cached timeout holds and the token is the current one.
 */
function fromCache(target: BeatTarget, c: CachedBeat): BeatState {
  const compares: Compare[] = [
    { key: target.ownerKey, op: 'modRevision', revision: c.ownerRevision },
    { key: target.beatKey, op: 'modRevision', revision: c.revision },
  ];
  return { beat: c.beat, lease: c.lease, timeout: c.timeout, ownerRevision: c.ownerRevision, compares };
}

/** The heartbeat state and the owner's timeout, read (one round trip for both keys on etcd) and checked against `token`. */
async function readBeat(ctx: Ctx, target: BeatTarget, token: string): Promise<BeatState> {
  const [owner, beatEntry] = await ctx.store.getMany([target.ownerKey, target.beatKey]);
  if (!owner) throw target.missing();
  const { timeout, createdAt } = ownerFields(ctx, target, owner.value);
  if (timeout === null) throw faults.notFound('HeartbeatMarker', token);
  if (!beatEntry && ctx.store.shared) {
    // During a rolling upgrade a server from before session 10 may hold the chain at its legacy key.
    const legacyKey = legacyBeatKey(target.kind, target.tenant, target.id);
    const legacy = await ctx.store.get(legacyKey);
    if (legacy) {
      // Not awaited: the heartbeat's path stays one round trip (seen() catches and logs its own failure).
      void legacyBeatsOf(ctx)?.seen();
      return checked(target, token, legacy, JSON.parse(legacy.value) as BeatRecord, timeout, owner.modRevision, legacyKey);
    }
  }
  const beat = beatEntry ? beatOf(ctx, target.beatKey, beatEntry.value) : undefined;
  // No state: only a restart of this registry excuses that (grace); otherwise the lease expired.
  if (!beatEntry && !createdBeforeStart(ctx, createdAt)) throw faults.notFound('HeartbeatMarker', token);
  return checked(target, token, beatEntry, beat, timeout, owner.modRevision);
}

/**
 * The state read, once `token` is its current one. Only the heartbeat state is
 * compared: a compare on the owner would cost a durable read per beat, and the
 * one race it closes (owner deleted between the read and the commit) leaves a
 * lease-bound key that expires. A chain read from its legacy key is compared
 * there too (an old server's concurrent beat makes the commit fail) and the new key must still be absent.
 */
function checked(
  target: BeatTarget,
  token: string,
  entry: Entry | undefined,
  beat: BeatRecord | undefined,
  timeout: number,
  ownerRevision: number,
  legacyKey?: string,
): BeatState {
  if (beat && beat.token !== token) throw faults.notFound('HeartbeatMarker', token);
  const lease = entry?.lease ?? 0;
  if (legacyKey === undefined) return { beat, lease, timeout, ownerRevision, compares: [unchanged(target.beatKey, entry)] };
  const compares = [unchanged(target.beatKey, undefined), unchanged(legacyKey, entry)];
  return { beat, lease, timeout, ownerRevision, compares, legacyKey };
}

interface OwnerFields {
  json: string;
  timeout: number | null;
  createdAt: number | undefined;
}

/** What a registry parsed (owners) and wrote (heartbeat states), by key, with the JSON it came from. */
interface Parsed {
  owners: Map<string, OwnerFields>;
  beats: Map<string, { json: string; beat: BeatRecord }>;
}

/** Entries per map at most: past this many a map starts over. */
const MAX_PARSED = 100_000;
const parsedOf = new WeakMap<Ctx, Parsed>();

function parsed(ctx: Ctx): Parsed {
  let p = parsedOf.get(ctx);
  if (p === undefined) parsedOf.set(ctx, (p = { owners: new Map(), beats: new Map() }));
  return p;
}

/**
 * `target.ownerOf(json)`, parsed once per version of the owner's record: every
 * heartbeat of a chain reads the same record, and the SQLite store hands back
 * the same string while it is unchanged (so the comparison is a pointer check).
 */
function ownerFields(ctx: Ctx, target: BeatTarget, json: string): OwnerFields {
  const owners = parsed(ctx).owners;
  const known = owners.get(target.ownerKey);
  if (known !== undefined && known.json === json) return known;
  const { timeout, createdAt } = target.ownerOf(json);
  if (owners.size >= MAX_PARSED) owners.clear();
  const fields = { json, timeout, createdAt };
  owners.set(target.ownerKey, fields);
  return fields;
}

/** The heartbeat state in `json`: the record this registry wrote when `json` is the very string it wrote, else parsed. */
function beatOf(ctx: Ctx, beatKey: string, json: string): BeatRecord {
  const written = parsed(ctx).beats.get(beatKey);
  return written !== undefined && written.json === json ? written.beat : (JSON.parse(json) as BeatRecord);
}

/** Remembers the state just committed for `beatKey` (never mutated afterwards: the next beat writes a new one). */
function wroteBeat(ctx: Ctx, beatKey: string, json: string, beat: BeatRecord): void {
  const beats = parsed(ctx).beats;
  if (beats.size >= MAX_PARSED) beats.clear();
  beats.set(beatKey, { json, beat });
}
