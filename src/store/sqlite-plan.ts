import { TetherError } from '../lib/errors.js';
import type { DiskWrite } from './sqlite-schema.js';
import type { Compare, Op, WatchEvent } from './store.js';

/**
 * Planning one txn of the SQLite store: compares and ops evaluated against
 * the state the txn sees (committed state plus the earlier txns of its
 * group commit), without applying anything.
 */

/** What a planned txn needs to know of an existing key. */
export interface KeyState {
  modRevision: number;
  /** Non-zero: volatile (memory only); zero: a row on disk. */
  lease: number;
}

/** The state a txn is planned against. */
export interface KeySource {
  /** The key's state, or undefined when it does not exist. */
  current(key: string): KeyState | undefined;
  /** Keys that may exist in [start, end) (absent ones are filtered out after). */
  candidates(start: string, end: string): Iterable<string>;
  /** True when the lease is alive. */
  hasLease(lease: number): boolean;
}

/** A key's state while a txn is planned: where it was, and what it becomes. */
export interface Change {
  origin: 'mem' | 'disk' | 'none';
  exists: boolean;
  value: string;
  lease: number;
  dirty: boolean;
}

export interface Plan {
  changes: Map<string, Change>;
  events: WatchEvent[];
}

/** True when every compare holds against `src`. */
export function comparesHold(src: KeySource, compares: readonly Compare[]): boolean {
  for (const c of compares) {
    const modRev = src.current(c.key)?.modRevision;
    if (c.op === 'absent' ? modRev !== undefined : modRev !== c.revision) return false;
  }
  return true;
}

/**
 * Computes the effect of `ops` in order at revision `rev`. Throws
 * `store.invalid` (empty key) or `store.lease_not_found`.
 */
export function planOps(src: KeySource, ops: readonly Op[], rev: number): Plan {
  const plan: Plan = { changes: new Map(), events: [] };
  for (const op of ops) {
    if (op.type === 'put') planPut(src, plan, op.key, op.value, op.lease ?? 0, rev);
    else if (op.type === 'delete') planDelete(src, plan, op.key, rev);
    else for (const key of liveKeysIn(src, plan, op.start, op.end)) planDelete(src, plan, key, rev);
  }
  return plan;
}

/** The durable rows the plan writes: lease-free keys upserted, disk rows removed. */
export function diskWritesOf(plan: Plan): DiskWrite[] {
  const disk: DiskWrite[] = [];
  for (const [key, c] of plan.changes) {
    if (!c.dirty) continue;
    if (c.exists && c.lease === 0) disk.push({ key, value: c.value });
    else if (c.origin === 'disk') disk.push({ key, value: null });
  }
  return disk;
}

function planPut(src: KeySource, plan: Plan, key: string, value: string, lease: number, rev: number): void {
  if (key === '') throw new TetherError('store.invalid', 'empty key');
  if (lease !== 0 && !src.hasLease(lease)) {
    throw new TetherError('store.lease_not_found', `lease ${lease} is expired or unknown`);
  }
  const c = touch(src, plan, key);
  c.exists = true;
  c.value = value;
  c.lease = lease;
  c.dirty = true;
  plan.events.push({ type: 'put', key, value, revision: rev });
}

function planDelete(src: KeySource, plan: Plan, key: string, rev: number): void {
  const c = touch(src, plan, key);
  if (!c.exists) return;
  c.exists = false;
  c.dirty = true;
  plan.events.push({ type: 'delete', key, value: null, revision: rev });
}

/** Returns the planned state of `key`, reading its current state on first use. */
function touch(src: KeySource, plan: Plan, key: string): Change {
  let c = plan.changes.get(key);
  if (c !== undefined) return c;
  const s = src.current(key);
  if (s === undefined) c = { origin: 'none', exists: false, value: '', lease: 0, dirty: false };
  else c = { origin: s.lease !== 0 ? 'mem' : 'disk', exists: true, value: '', lease: s.lease, dirty: false };
  plan.changes.set(key, c);
  return c;
}

/** Keys that exist in [start, end) given the plan so far, in byte order. */
function liveKeysIn(src: KeySource, plan: Plan, start: string, end: string): string[] {
  const keys = new Set(src.candidates(start, end));
  for (const [key, c] of plan.changes) if (c.exists && key >= start && key < end) keys.add(key);
  return [...keys].filter((k) => touch(src, plan, k).exists).sort(byteOrder);
}

export function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
