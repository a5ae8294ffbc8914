import { systemClock } from '../lib/clock.js';
import { processStallClock, type StallClock } from '../lib/stall-clock.js';
import type { Compare, Entry, Op } from '../store/store.js';
import {
  appendEvents,
  decode,
  gracefulDeadline,
  releaseLease,
  servicePayload,
  transact,
  unchanged,
  type BeatRecord,
  type Ctx,
  type NewEvent,
  type ServiceRecord,
  type SessionRecord,
} from './context.js';
import type { DeadlineKind } from './deadlines.js';
import { keys, legacyBeatKey } from './keys.js';
import { legacyBeatsOf } from './legacy-beats.js';
import { timeUuid } from './time-uuid.js';

type DueEntry = { kind: DeadlineKind; id: string; deadline: number };
/** Heartbeat keys per read of the refresh: well within etcd's --max-txn-ops (128 by default). */
const REFRESH_CHUNK = 64;

/** The heartbeat state an expiry judges by, and what its removal compares, deletes and releases. */
interface BeatState {
  beat: BeatRecord | undefined;
  compares: Compare[];
  ops: Op[];
  leases: number[];
}

/** What one pass counts: deadlines that only a stall kept alive. */
interface Tally {
  saved: number;
}

/**
 * The expiry pass of spec 6.8: removes every service (and session) of a
 * tenant whose deadline is before a cutoff, writing exactly one
 * service.timeout event each (id = the expired token, timestamp = the
 * deadline). Passes of one tenant run one at a time; callers that arrive
 * while one runs wait for it, so 149 parallel reads see the same result and
 * no duplicate events. Across registry servers, the compares on the removed
 * records make the event write happen once.
 *
 * Deadlines are judged against the time this server could hear heartbeats:
 * a stall of the process (SIGSTOP, a frozen VM) extends every deadline set
 * before it by its length, as a restart gives a full timeout of grace. A
 * client that really stopped still expires once the server has run for its
 * timeout. Each server judges by its own stalls: over one etcd, the servers
 * that did not stall expire what they did not hear, as they should.
 */
export class Expirer {
  private readonly running = new Map<string, Promise<void>>();
  /**
   * Stalls of this process, on the real clock only: a test's fake clock has
   * no stalls, and real event-loop hiccups must not shift its deadlines.
   */
  private readonly stalls: StallClock | undefined;

  constructor(private readonly ctx: Ctx) {
    this.stalls = ctx.clock === systemClock ? processStallClock() : undefined;
  }

  /**
   * The deadline judged against the time this server could hear heartbeats:
   * `deadline` plus every stall since the deadline was set (its last heartbeat,
   * or its creation: `timeoutSec` before it).
   */
  private judged(deadline: number, timeoutSec: number, cutoff: number, tally: Tally): number {
    if (this.stalls === undefined || deadline >= cutoff) return deadline;
    const extended = deadline + this.stalls.creditSince(deadline - timeoutSec * 1000);
    if (extended >= cutoff) tally.saved++;
    return extended;
  }

  /** Resolves once nothing of `tenant` with a deadline before `cutoff` (default: now) is left. */
  async run(tenant: string, cutoff?: number): Promise<void> {
    for (;;) {
      const inflight = this.running.get(tenant);
      if (inflight) {
        await inflight;
        continue;
      }
      const at = cutoff ?? this.ctx.clock.now();
      if (!this.ctx.deadlines.anyDue(tenant, at)) return;
      const pass = this.pass(tenant, at).finally(() => this.running.delete(tenant));
      this.running.set(tenant, pass);
      await pass;
      return;
    }
  }

  private async pass(tenant: string, cutoff: number): Promise<void> {
    const popped = this.ctx.deadlines.popDue(tenant, cutoff);
    let due = popped;
    try {
      if (this.ctx.store.shared) due = await this.refresh(tenant, popped, cutoff);
    } catch (err) {
      for (const d of popped) this.ctx.deadlines.set(tenant, d.kind, d.id, d.deadline);
      throw err;
    }
    const tally: Tally = { saved: 0 };
    for (let i = 0; i < due.length; i++) {
      const d = due[i] as DueEntry;
      try {
        const alive = d.kind === 'svc' ? await this.expireService(tenant, d.id, cutoff, tally) : await this.expireSession(tenant, d.id, cutoff, tally);
        if (alive !== null) this.ctx.deadlines.set(tenant, d.kind, d.id, alive);
      } catch (err) {
        // Put back what this pass did not finish, so the next one retries it.
        for (const rest of due.slice(i)) this.ctx.deadlines.set(tenant, rest.kind, rest.id, rest.deadline);
        throw err;
      }
    }
    // Once per pass, not once per service: a stall saves the whole fleet at once.
    if (tally.saved > 0) this.ctx.log.warn({ tenant, extended: tally.saved, stalls: this.stalls?.recent().slice(-3) }, 'server stalled: deadlines extended by the stall');
  }

  /**
   * On a shared store this server does not hear other servers' heartbeats
   * (heartbeat state is unwatched, keys.ts), so most of what its index holds
   * as due is alive: one batched read of their heartbeat state puts those
   * back at their real deadlines, and only the rest take the one-by-one path.
   */
  private async refresh(tenant: string, due: DueEntry[], cutoff: number): Promise<DueEntry[]> {
    const beatKey = (d: DueEntry): string => (d.kind === 'svc' ? keys.beat(tenant, d.id) : keys.sessionBeat(tenant, d.id));
    const left = await this.keepAlive(tenant, due, beatKey, cutoff);
    // During a rolling upgrade, servers from before session 10 still write the legacy keys: read those
    // of what is left, so that a missing new key alone never expires a live service.
    if (left.length === 0) return left;
    const rest = await this.keepAlive(tenant, left, (d) => legacyBeatKey(d.kind, tenant, d.id), cutoff);
    // Kept alive by legacy state: reads of last_seen look there too for a while (legacy-beats.ts).
    // Not awaited: expiry runs on reads too, and seen() catches and logs its own failure.
    if (rest.length < left.length) void legacyBeatsOf(this.ctx)?.seen();
    return rest;
  }

  /** Reads `keyOf` of each entry, puts back those whose state is not past due at its deadline, and returns the rest. */
  private async keepAlive(tenant: string, due: DueEntry[], keyOf: (d: DueEntry) => string, cutoff: number): Promise<DueEntry[]> {
    const chunks: DueEntry[][] = [];
    for (let i = 0; i < due.length; i += REFRESH_CHUNK) chunks.push(due.slice(i, i + REFRESH_CHUNK));
    const read = await Promise.all(chunks.map((c) => this.ctx.store.getMany(c.map(keyOf))));
    const left: DueEntry[] = [];
    due.forEach((d, i) => {
      const beat = decode<BeatRecord>(read[Math.floor(i / REFRESH_CHUNK)]?.[i % REFRESH_CHUNK]);
      if (beat !== undefined && beat.deadline >= cutoff) this.ctx.deadlines.set(tenant, d.kind, d.id, beat.deadline);
      else left.push(d);
    });
    return left;
  }

  /**
   * The heartbeat state of a service or session, read in the expiry's txn. On a
   * shared store the legacy key is read too, in the same request (a server from
   * before session 10 writes there during a rolling upgrade): the later state of
   * the two counts, and the removal compares and deletes both keys.
   */
  private async beatState(kind: DueEntry['kind'], tenant: string, id: string): Promise<BeatState> {
    const { store } = this.ctx;
    const beatKey = kind === 'svc' ? keys.beat(tenant, id) : keys.sessionBeat(tenant, id);
    const legacyKey = legacyBeatKey(kind, tenant, id);
    const [entry, legacy]: Array<Entry | undefined> = store.shared ? await store.getMany([beatKey, legacyKey]) : [await store.get(beatKey)];
    const beat = decode<BeatRecord>(entry);
    const state: BeatState = { beat, compares: [unchanged(beatKey, entry)], ops: [{ type: 'delete', key: beatKey }], leases: entry ? [entry.lease] : [] };
    if (!store.shared) return state;
    state.compares.push(unchanged(legacyKey, legacy));
    if (legacy === undefined) return state;
    const old = decode<BeatRecord>(legacy) as BeatRecord;
    if (beat === undefined || old.deadline > beat.deadline) state.beat = old;
    state.ops.push({ type: 'delete', key: legacyKey });
    if (!state.leases.includes(legacy.lease)) state.leases.push(legacy.lease);
    return state;
  }

  /** Returns null when the service is gone (expired now or before), else its deadline. */
  private async expireService(tenant: string, id: string, cutoff: number, tally: Tally): Promise<number | null> {
    const { ctx } = this;
    const svcKey = keys.service(tenant, id);
    let leases: number[] = [];
    const alive = await transact(ctx, async () => {
      const svcEntry = await ctx.store.get(svcKey);
      const rec = decode<ServiceRecord>(svcEntry);
      if (!rec || rec.heartbeat_timeout === null || rec.session_id !== null) return { result: null };
      const state = await this.beatState('svc', tenant, id);
      const { beat } = state;
      const deadline = beat ? beat.deadline : gracefulDeadline(ctx, rec.created_at, rec.heartbeat_timeout);
      const judged = this.judged(deadline, rec.heartbeat_timeout, cutoff, tally);
      if (judged >= cutoff) return { result: judged };
      leases = state.leases;
      const token = beat?.token ?? timeUuid(deadline);
      const ev = await appendEvents(ctx, tenant, [{ type: 'service.timeout', payload: servicePayload(rec), id: token, timestamp: deadline }]);
      const compares: Compare[] = [unchanged(svcKey, svcEntry), ...state.compares, { key: keys.eventId(tenant, token), op: 'absent' }, ...ev.compares];
      const ops: Op[] = [{ type: 'delete', key: svcKey }, ...state.ops, ...ev.ops];
      return { result: null, compares, ops };
    });
    for (const lease of leases) await releaseLease(ctx, lease);
    if (alive === null) ctx.log.info({ tenant, service: id }, 'service timed out');
    return alive;
  }

  /** A session's expiry removes it and every service bound to it, one service.timeout event each. */
  private async expireSession(tenant: string, id: string, cutoff: number, tally: Tally): Promise<number | null> {
    const { ctx } = this;
    const sesKey = keys.session(tenant, id);
    let leases: number[] = [];
    const alive = await transact(ctx, async () => {
      const sesEntry = await ctx.store.get(sesKey);
      const ses = decode<SessionRecord>(sesEntry);
      if (!ses) return { result: null };
      const state = await this.beatState('ses', tenant, id);
      const { beat } = state;
      const deadline = beat ? beat.deadline : gracefulDeadline(ctx, ses.created_at, ses.heartbeat_timeout);
      const judged = this.judged(deadline, ses.heartbeat_timeout, cutoff, tally);
      if (judged >= cutoff) return { result: judged };
      leases = state.leases;
      const bound = await boundServices(ctx, tenant, id);
      const events: NewEvent[] = bound.map(({ rec }, i) => ({
        type: 'service.timeout',
        payload: servicePayload(rec, ses.heartbeat_timeout),
        id: i === 0 && beat ? beat.token : timeUuid(deadline),
        timestamp: deadline,
      }));
      const ev = await appendEvents(ctx, tenant, events);
      return {
        result: null,
        compares: [unchanged(sesKey, sesEntry), ...state.compares, ...bound.map((b) => b.compare), ...ev.compares],
        ops: [{ type: 'delete', key: sesKey }, ...state.ops, ...bound.map((b) => b.op), ...ev.ops] as Op[],
      };
    });
    for (const lease of leases) await releaseLease(ctx, lease);
    if (alive === null) ctx.log.info({ tenant, session: id }, 'session timed out');
    return alive;
  }
}

/** The services bound to session `sessionId`, with a compare and a delete op for each. */
export async function boundServices(
  ctx: Ctx,
  tenant: string,
  sessionId: string,
): Promise<Array<{ rec: ServiceRecord; compare: Compare; op: Op }>> {
  const prefix = keys.servicePrefix(tenant);
  const { entries } = await ctx.store.range(prefix);
  const out: Array<{ rec: ServiceRecord; compare: Compare; op: Op }> = [];
  for (const e of entries) {
    const rec = JSON.parse(e.value) as ServiceRecord;
    if (rec.session_id === sessionId) out.push({ rec, compare: unchanged(e.key, e), op: { type: 'delete', key: e.key } });
  }
  return out;
}
