import type { Logger } from 'pino';
import type { Clock } from '../lib/clock.js';
import { TetherError } from '../lib/errors.js';
import type { Compare, Entry, Op, Store, TxnOptions } from '../store/store.js';
import { DeadlineIndex } from './deadlines.js';
import { faults } from './faults.js';
import { keys } from './keys.js';
import { uuidAfter, uuidTime } from './time-uuid.js';
import type { EventType, Metadata, RegistryEvent, ResourceLimits, ServicePayload } from './types.js';
import { MAX_HEARTBEAT_TIMEOUT_S, TENANT_RE } from './validate.js';

/** What the registry stores for a service (the durable part). */
export interface ServiceRecord {
  id: string;
  tags: string[];
  metadata: Metadata;
  /** Null for services bound to a session: they take the session's. */
  heartbeat_timeout: number | null;
  session_id: string | null;
  /** When it was created (ms); absent in records written before this field existed. */
  created_at?: number;
}

/** Heartbeat state of a service or session: volatile (lease-bound). */
export interface BeatRecord {
  token: string;
  deadline: number;
  last_seen: number | null;
  /** When its lease was last granted or renewed (ms); absent in records written before this field existed. */
  renewed_at?: number;
}

export interface SessionRecord {
  id: string;
  metadata: Metadata;
  heartbeat_timeout: number;
  created_at?: number;
}

export interface AccountRecord {
  created_at: number;
  limits: ResourceLimits;
}

export interface RegistryOptions {
  eventRetentionMs: number;
  reaperGraceMs: number;
  reaperIntervalMs: number;
  defaultLimits: ResourceLimits;
  /** Operator limits for every tenant, over what each account stored at creation. */
  limitOverrides: Partial<ResourceLimits>;
}

/** Everything the registry's operation modules share. */
export interface Ctx {
  store: Store;
  clock: Clock;
  log: Logger;
  opts: RegistryOptions;
  deadlines: DeadlineIndex;
  accounts: Map<string, AccountRecord>;
  /** When this registry process started: services with no heartbeat state get a full timeout from here. */
  startedAt: number;
}

/** A transaction planned from reads: the caller's result, plus compares and ops (none = read-only). */
export interface Plan<T> {
  result: T;
  compares?: Compare[];
  ops?: Op[];
  /** Runs after a successful commit (in-memory bookkeeping), with the commit's revision. */
  after?: (revision: number) => void;
  /** The commit may wait a moment to share a request with others (Store TxnOptions: heartbeats). */
  coalesce?: boolean;
}

const COALESCE: TxnOptions = { coalesce: true };

const MAX_ATTEMPTS = 100;

/**
 * Optimistic concurrency: read, plan, commit with compares; on a conflict read
 * again. Returns the plan's result after its commit. Throws what `plan` throws
 * (faults), or `registry.conflict` when contention never settles.
 */
export async function transact<T>(ctx: Ctx, plan: () => Promise<Plan<T>>): Promise<T> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const p = await plan();
    if (!p.ops || p.ops.length === 0) return p.result;
    const res = await ctx.store.txn(p.compares ?? [], p.ops, p.coalesce === true ? COALESCE : undefined);
    if (res.succeeded) {
      p.after?.(res.revision);
      return p.result;
    }
  }
  throw new TetherError('registry.conflict', 'transaction kept conflicting');
}

/**
 * Revokes the lease of keys a committed transaction already deleted. That is
 * only cleanup (the lease expires on its own), so a failure is logged, not
 * thrown: throwing would answer a committed change with a 503.
 */
export async function releaseLease(ctx: Ctx, lease: number): Promise<void> {
  if (lease === 0) return;
  await ctx.store.revokeLease(lease).catch((err: unknown) => ctx.log.warn({ err, lease }, 'revoking a released lease failed; it expires on its own'));
}

/** A compare that holds when `entry` is still what was read (or still absent). */
export function unchanged(key: string, entry: Entry | undefined): Compare {
  return entry ? { key, op: 'modRevision', revision: entry.modRevision } : { key, op: 'absent' };
}

export function decode<T>(entry: Entry | undefined): T | undefined {
  return entry ? (JSON.parse(entry.value) as T) : undefined;
}


/** The account of `tenant`, created on first use (spec 1.5). */
export async function ensureAccount(ctx: Ctx, tenant: string): Promise<AccountRecord> {
  const cached = ctx.accounts.get(tenant);
  if (cached) return cached;
  if (!TENANT_RE.test(tenant)) throw faults.invalidParam('tenantId', 'Invalid characters');
  const key = keys.account(tenant);
  const account = await transact(ctx, async () => {
    const entry = await ctx.store.get(key);
    if (entry) return { result: JSON.parse(entry.value) as AccountRecord };
    // (limit overrides are applied below, in memory only)
    const record: AccountRecord = { created_at: ctx.clock.now(), limits: { ...ctx.opts.defaultLimits } };
    return { result: record, compares: [{ key, op: 'absent' }], ops: [{ type: 'put', key, value: JSON.stringify(record) }] };
  });
  const effective = { ...account, limits: { ...account.limits, ...ctx.opts.limitOverrides } };
  ctx.accounts.set(tenant, effective);
  return effective;
}

/** An event to append; `id` and `timestamp` default to the commit id and its time. */
export interface NewEvent {
  type: EventType;
  payload: RegistryEvent['payload'];
  id?: string;
  timestamp?: number;
}

/**
 * Reads the tenant's last commit id and returns the compare and ops that
 * append `events` in one transaction. Each event gets a commit id that sorts
 * after every committed one (the compare on the last-event key pins commit
 * order, also across registry servers). An event's public `id` is its commit
 * id unless it brings its own (service.timeout: the expired token), in which
 * case an index entry maps that id to the commit position, so a marker equal
 * to it resumes exactly there.
 */
export async function appendEvents(
  ctx: Ctx,
  tenant: string,
  events: NewEvent[],
  /** The last-event key's entry when the caller read it already (in one `getMany` with its own keys). */
  lastRead?: { entry: Entry | undefined },
): Promise<{ compares: Compare[]; ops: Op[]; ids: string[] }> {
  const lastKey = keys.lastEvent(tenant);
  const last = lastRead !== undefined ? lastRead.entry : await ctx.store.get(lastKey);
  let prev = last ? last.value : null;
  const ops: Op[] = [];
  const ids: string[] = [];
  const now = ctx.clock.now();
  for (const ev of events) {
    const commitId = uuidAfter(prev, now);
    prev = commitId;
    const id = ev.id ?? commitId;
    const body = { id, timestamp: ev.timestamp ?? uuidTime(commitId), type: ev.type, payload: ev.payload };
    ops.push({ type: 'put', key: keys.event(tenant, commitId), value: JSON.stringify(body) });
    if (ev.id !== undefined) ops.push({ type: 'put', key: keys.eventId(tenant, ev.id), value: keys.event(tenant, commitId) });
    ids.push(id);
  }
  if (prev !== null && events.length > 0) ops.push({ type: 'put', key: lastKey, value: prev });
  return { compares: [unchanged(lastKey, last)], ops, ids };
}

/** The event payload of a service record (spec 7): no last_seen. */
export function servicePayload(rec: ServiceRecord, sessionTimeout?: number): ServicePayload {
  const p: ServicePayload = {
    id: rec.id,
    tags: rec.tags,
    metadata: rec.metadata,
    heartbeat_timeout: rec.heartbeat_timeout ?? sessionTimeout ?? 0,
  };
  if (rec.session_id !== null) p.session_id = rec.session_id;
  return p;
}

/**
 * The deadline of something with no heartbeat state. Created before this
 * registry process started (the SQLite engine forgot its lease-bound state at
 * the restart): one full timeout of grace from the start. Created since: the
 * state expired with its lease, so the deadline has long passed.
 */
export function gracefulDeadline(ctx: Ctx, createdAt: number | undefined, timeoutSec: number): number {
  return Math.max(ctx.startedAt, createdAt ?? 0) + timeoutSec * 1000;
}

/** True when the restart grace applies: created before this registry process started. */
export function createdBeforeStart(ctx: Ctx, createdAt: number | undefined): boolean {
  return createdAt === undefined || createdAt < ctx.startedAt;
}

/**
 * Lease TTL for heartbeat state: the store forgets it well after the registry
 * would have reaped it. One TTL for every timeout (the longest allowed), since
 * a keep-alive renews a lease for the TTL it was granted with (etcd), and an
 * update may raise a service's timeout after its lease was granted.
 */
export function beatLeaseMs(ctx: Ctx): number {
  return MAX_HEARTBEAT_TIMEOUT_S * 1000 + ctx.opts.reaperGraceMs + 30_000;
}
