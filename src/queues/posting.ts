import type { Op, Store } from '../store/store.js';
import { MAX_ATTEMPTS, type Ctx } from './context.js';
import { queueFault } from './faults.js';
import type { ClaimSlot } from './handoff.js';
import { messageKey, newClaimId, newMessageIds, type QueueKeys } from './keys.js';
import { encodeMessage, toMessage, type ClaimRecord, type MessageRecord } from './records.js';
import type { Claim } from './types.js';
import type { NewMessage } from './validation.js';

interface Pending {
  clientId: string;
  messages: NewMessage[];
  /** Each body as JSON, serialized once when the post arrives. */
  bodies: string[];
  bytes: number;
  resolve(ids: string[]): void;
  reject(err: unknown): void;
}

interface QueueLine {
  keys: QueueKeys;
  running: boolean;
  pending: Pending[];
  /** The counter as last written or read here: a guess the txn's compare checks. */
  counter: { n: number; rev: number } | undefined;
}

/**
 * Posting: every post takes the next markers from the queue's counter, and
 * the counter and the messages are written in one txn that compares the
 * counter's revision (spec 8.2: a batch is visible at once, markers never go
 * backwards, also with several servers over one etcd). Posts to one queue
 * would all collide on that counter, so this process lines them up per queue
 * and writes the posts that arrived while one txn was in flight together in
 * the next txn (each keeps its own consecutive markers, all-or-nothing as a
 * group). The counter's revision is remembered, so a post is one txn, no read.
 */
export class Poster {
  private readonly lines = new Map<string, QueueLine>();

  constructor(private readonly ctx: Ctx) {}

  /** Resolves with the ids in request order; notFound when the queue is missing. */
  post(keys: QueueKeys, clientId: string, messages: NewMessage[]): Promise<string[]> {
    let line = this.lines.get(keys.id);
    if (line === undefined) {
      line = { keys, running: false, pending: [], counter: undefined };
      this.lines.set(keys.id, line);
    }
    const l = line;
    const bodies = messages.map((m) => JSON.stringify(m.body) ?? 'null');
    const bytes = bodies.reduce((sum, b) => sum + b.length + RECORD_OVERHEAD, 0);
    return new Promise<string[]>((resolve, reject) => {
      l.pending.push({ clientId, messages, bodies, bytes, resolve, reject });
      if (!l.running) void this.drain(l);
    });
  }

  /** Forgets what it knows of a queue (deleted). */
  forget(queueId: string): void {
    const line = this.lines.get(queueId);
    if (line !== undefined) line.counter = undefined;
  }

  private async drain(line: QueueLine): Promise<void> {
    line.running = true;
    try {
      for (let round = 0; ; round++) {
        // After a commit, one turn of the event loop before the next group
        // (or before stopping): the posters it woke post again in their
        // continuations and join one group, instead of one trailing alone and
        // the rest after it. A lone post on an idle queue does not wait that turn.
        if (round > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        if (line.pending.length === 0) break;
        const group = takeGroup(line.pending, postCapacity(this.ctx.store) ?? (this.ctx.store.shared ? ETCD_GROUP_MAX_MESSAGES : GROUP_MAX_MESSAGES));
        try {
          const ids = await this.commit(line, group);
          group.forEach((p, i) => p.resolve(ids[i] as string[]));
        } catch (err) {
          for (const p of group) p.reject(err);
        }
      }
    } finally {
      line.running = false;
      // Idle lines go when the counter is unknown, or when there are many of them (a cached counter only saves a read).
      if (line.pending.length === 0 && (line.counter === undefined || this.lines.size > MAX_IDLE_LINES)) this.lines.delete(line.keys.id);
    }
  }

  /**
   * One txn for the group: the messages, the counter (compared), and, for
   * claimers waiting on this queue in this process, their claims of the
   * first messages (oldest first). A failed compare re-reads the counter.
   */
  private async commit(line: QueueLine, group: Pending[]): Promise<string[][]> {
    const { store, clock, handoff } = this.ctx;
    const total = group.reduce((sum, p) => sum + p.messages.length, 0);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const counter = line.counter ?? (await readCounter(this.ctx, line.keys));
      if (counter === null) throw queueFault('notFound', 'Queue not found.');
      const slots = handoff.take(line.keys.id, total, store.shared ? ETCD_MAX_HANDOFFS : MAX_HANDOFFS);
      try {
        const plan = planPost(line.keys, group, counter.n, clock.now(), slots);
        const r = await store.txn([{ key: line.keys.counter, op: 'modRevision', revision: counter.rev }], plan.ops);
        if (r.succeeded) {
          line.counter = { n: plan.last, rev: r.revision };
          plan.claims.forEach((claim, i) => (slots[i] as ClaimSlot).fill(claim));
          return plan.ids;
        }
      } finally {
        for (const slot of slots) slot.reopen();
      }
      line.counter = undefined;
    }
    throw queueFault('unavailable', 'Too many concurrent writers on this queue; try again.');
  }
}

interface PostPlan {
  ops: Op[];
  /** Ids per post, in request order. */
  ids: string[][];
  /** The counter after the group. */
  last: number;
  /** One claim per slot, in slot order. */
  claims: Claim[];
}

/** The writes of a group from marker `last + 1`: messages in order, the first ones claimed for `slots`, then the counter and the claim records. */
function planPost(keys: QueueKeys, group: Pending[], last: number, now: number, slots: ClaimSlot[]): PostPlan {
  const plan: PostPlan = { ops: [], ids: [], last, claims: slots.map((s) => ({ id: newClaimId(), ttl: s.terms.ttl, age: 0, messages: [] })) };
  const markers: number[][] = slots.map(() => []);
  let at = 0;
  for (const p of group) {
    const batch = newMessageIds(plan.last + 1, p.messages.length);
    p.messages.forEach((m, i) => {
      const marker = plan.last + 1 + i;
      const id = batch[i] as string;
      const body = p.bodies[i] as string;
      const slot = slots[at];
      const claim = plan.claims[at];
      let value: string;
      if (slot === undefined || claim === undefined) {
        value = encodeNew(id, p.clientId, now, now + m.ttl * 1000, body);
      } else {
        const x = now + slot.terms.ttl * 1000;
        const rec: MessageRecord = { i: id, c: p.clientId, t: now, e: Math.max(now + m.ttl * 1000, x + slot.terms.grace * 1000), k: claim.id, x };
        value = encodeMessage(rec, body);
        claim.messages.push(toMessage({ rec, body }, now, claim.id));
        (markers[at] as number[]).push(marker);
        if (claim.messages.length === slot.terms.limit) at++;
      }
      plan.ops.push({ type: 'put', key: messageKey(keys, marker), value });
    });
    plan.ids.push(batch);
    plan.last += p.messages.length;
  }
  plan.ops.push({ type: 'put', key: keys.counter, value: String(plan.last) });
  slots.forEach((slot, i) => {
    const record: ClaimRecord = { t: slot.terms.ttl, s: now, x: now + slot.terms.ttl * 1000, m: markers[i] as number[] };
    plan.ops.push({ type: 'put', key: `${keys.claims}${(plan.claims[i] as Claim).id}`, value: JSON.stringify(record) });
  });
  return plan;
}

/** Waiting claimers served by one post txn (each adds a claim record; etcd allows 128 operations per txn by default). */
const MAX_HANDOFFS = 64;
const ETCD_MAX_HANDOFFS = 4;

const MAX_IDLE_LINES = 10_000;

/**
 * Messages one post txn can carry on a store with a txn-op limit (etcd's
 * `--max-txn-ops`): besides one put per message, the counter and a claim
 * record per handoff. A post over it could never commit, so the service makes
 * it the count limit of spec A1 (400 Invalid API call, not a 503 retried forever).
 */
export function postCapacity(store: Store): number | undefined {
  const max = store.maxTxnOps;
  return max === undefined ? undefined : max - 1 - (store.shared ? ETCD_MAX_HANDOFFS : MAX_HANDOFFS);
}

/** Messages per grouped txn: etcd refuses more than 128 operations in one txn by default. */
const ETCD_GROUP_MAX_MESSAGES = 120 - ETCD_MAX_HANDOFFS;
const GROUP_MAX_MESSAGES = 2000;
const GROUP_MAX_BYTES = 1_000_000;
/** Bytes of a stored message besides its body (ids, times, field names). */
const RECORD_OVERHEAD = 110;

/**
 * A new message as stored (records.ts: header, newline, body), written out
 * by hand: the ids are hex and the client id a canonical UUID, nothing to escape.
 */
function encodeNew(id: string, clientId: string, postedAt: number, expiresAt: number, body: string): string {
  return `{"i":"${id}","c":"${clientId}","t":${postedAt},"e":${expiresAt}}\n${body}`;
}

/** The next posts that fit one txn (always at least one, whatever its size). */
function takeGroup(pending: Pending[], maxMessages: number): Pending[] {
  let count = 0;
  let bytes = 0;
  let take = 0;
  for (const p of pending) {
    if (take > 0 && (count + p.messages.length > maxMessages || bytes + p.bytes > GROUP_MAX_BYTES)) break;
    count += p.messages.length;
    bytes += p.bytes;
    take++;
  }
  return pending.splice(0, take);
}

/** The counter and its revision; null when the queue does not exist. */
export async function readCounter(ctx: Ctx, keys: QueueKeys): Promise<{ n: number; rev: number } | null> {
  const e = await ctx.store.get(keys.counter);
  return e === undefined ? null : { n: Number(e.value), rev: e.modRevision };
}
