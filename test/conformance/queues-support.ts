import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect } from 'vitest';
import { QueueFault, QUEUE_FAULTS, type QueueFaultKind } from '../../src/queues/faults.js';
import type { Project } from '../../src/queues/types.js';
import type { QueuesHarness, QueuesHarnessOptions, QueuesImplementation } from '../helpers/queues.js';

export type QueuesRef = () => QueuesHarness;

/** Opens a harness in beforeAll of the enclosing describe and closes it in afterAll; tests isolate by project. */
export function useQueues(impl: QueuesImplementation, opts?: QueuesHarnessOptions): QueuesRef {
  let harness: QueuesHarness | undefined;
  beforeAll(async () => {
    harness = await impl.open(opts);
  });
  afterAll(async () => {
    await harness?.close();
    harness = undefined;
  });
  return () => {
    if (!harness) throw new Error(`harness ${impl.name} is not open`);
    return harness;
  };
}

let projects = 0;

/** A project id no other test uses. */
export function newProject(): string {
  projects += 1;
  return `p${projects}-${Date.now()}`;
}

/** A fresh Client-ID (the spec's tests use a new uuid per request unless stated). */
export function clientId(): string {
  return randomUUID();
}

/** Resolves with the QueueFault `p` rejects with; fails when `p` resolves or rejects otherwise. */
export async function faultOf(p: Promise<unknown>): Promise<QueueFault> {
  let value: unknown;
  try {
    value = await p;
  } catch (err) {
    if (err instanceof QueueFault) return err;
    throw new Error(`expected a QueueFault, got ${String(err)}`, { cause: err });
  }
  throw new Error(`expected a QueueFault, but the call succeeded with ${JSON.stringify(value)}`);
}

/** Expects `p` to reject with a QueueFault of `kind` (and its status and title). */
export async function expectFault(p: Promise<unknown>, kind: QueueFaultKind): Promise<QueueFault> {
  const f = await faultOf(p);
  expect(`${f.kind} ${f.status} ${f.title}`, f.description).toBe(`${kind} ${QUEUE_FAULTS[kind].status} ${QUEUE_FAULTS[kind].title}`);
  expect(f.code).toBe(`queues.${kind}`);
  return f;
}

/**
 * Expects a fault for a ttl/grace of `value`: over the wire an integer beyond
 * signed 64 bits is a body the server cannot read (invalidBody, spec 2.5)
 * before it is a value out of range (invalidApiCall), so both are accepted there.
 */
export async function expectRangeFault(p: Promise<unknown>, value: number): Promise<void> {
  const f = await faultOf(p);
  const kinds = Math.abs(value) > 2 ** 63 ? ['invalidApiCall', 'invalidBody'] : ['invalidApiCall'];
  expect(kinds, `${f.kind}: ${f.description}`).toContain(f.kind);
}

/** `n` message documents `{ttl, body: {n: i}}`. */
export function docs(n: number, ttl = 300): Array<{ ttl: number; body: unknown }> {
  return Array.from({ length: n }, (_, i) => ({ ttl, body: { n: i } }));
}

/** Creates a queue under a fresh project (or `project`) and returns both. */
export async function freshQueue(h: QueuesRef, project: Project = newProject(), name = 'fizbit'): Promise<{ project: Project; name: string }> {
  expect(await h().queues.createQueue(project, name)).toBe(true);
  return { project, name };
}

/** Creates a queue and posts `n` messages in one request; returns the ids. */
export async function queueWith(h: QueuesRef, n: number, ttl = 300): Promise<{ project: Project; name: string; ids: string[]; poster: string }> {
  const q = await freshQueue(h);
  const poster = clientId();
  const ids = await h().queues.postMessages(q.project, q.name, poster, docs(n, ttl));
  return { ...q, ids, poster };
}

export const CLAIM = { ttl: 300, grace: 300 };
export const SECOND = 1000;
