import { afterAll, beforeAll, expect } from 'vitest';
import { RegistryFault, type FaultType } from '../../src/registry/faults.js';
import type { HarnessOptions, RegistryHarness, RegistryImplementation } from '../helpers/registries.js';

/** Returns the harness opened for the enclosing describe (throws before beforeAll ran). */
export type HarnessRef = () => RegistryHarness;

/**
 * Opens a harness in beforeAll of the enclosing describe and closes it in
 * afterAll. Tests isolate themselves with a fresh tenant, so one harness
 * serves a whole describe.
 */
export function useHarness(impl: RegistryImplementation, opts?: HarnessOptions): HarnessRef {
  let harness: RegistryHarness | undefined;
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

let tenantCounter = 0;

/** A tenant id no other test uses: `t<counter><ms>` (matches `[A-Za-z0-9_.-]+`). */
export function newTenant(): string {
  tenantCounter += 1;
  return `t${tenantCounter}${Date.now()}`;
}

/** Resolves with the RegistryFault `p` rejects with; fails the test when `p` resolves or rejects otherwise. */
export async function faultOf(p: Promise<unknown>): Promise<RegistryFault> {
  let value: unknown;
  try {
    value = await p;
  } catch (err) {
    if (err instanceof RegistryFault) return err;
    throw new Error(`expected a RegistryFault, got ${String(err)}`, { cause: err });
  }
  throw new Error(`expected a RegistryFault, but the call succeeded with ${JSON.stringify(value)}`);
}

export interface ExpectedFault {
  type: FaultType;
  status?: number;
  /** Exact text, or a pattern the message must match. */
  message?: string | RegExp;
  details?: string | RegExp | Record<string, unknown>;
}

/** Awaits `p`, expects it to reject with a RegistryFault matching `want`, and returns the fault. */
export async function expectFault(p: Promise<unknown>, want: ExpectedFault): Promise<RegistryFault> {
  const f = await faultOf(p);
  const seen = `${f.type} ${f.status} ${JSON.stringify(f.message)} ${JSON.stringify(f.details)}`;
  expect(f.type, seen).toBe(want.type);
  if (want.status !== undefined) expect(f.status, seen).toBe(want.status);
  if (typeof want.message === 'string') expect(f.message, seen).toBe(want.message);
  else if (want.message) expect(f.message, seen).toMatch(want.message);
  if (typeof want.details === 'string') expect(f.details, seen).toBe(want.details);
  else if (want.details instanceof RegExp) expect(String(f.details), seen).toMatch(want.details);
  else if (want.details) expect(f.details, seen).toEqual(want.details);
  return f;
}

export const notFound = (kind: 'Service' | 'ConfigurationValue' | 'HeartbeatMarker' | 'Session', key: string): ExpectedFault => ({
  type: 'notFoundError',
  status: 404,
  message: 'object does not exist',
  details: `Object "${kind}" with key "${key}" does not exist`,
});

/** A valid create-service body. */
export function serviceBody(id: string, heartbeat_timeout = 30, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, heartbeat_timeout, ...extra };
}

/** Settled results split into values and RegistryFaults; any other rejection is rethrown. */
export function splitSettled<T>(results: PromiseSettledResult<T>[]): { ok: T[]; faults: RegistryFault[] } {
  const ok: T[] = [];
  const faults: RegistryFault[] = [];
  for (const r of results) {
    if (r.status === 'fulfilled') ok.push(r.value);
    else if (r.reason instanceof RegistryFault) faults.push(r.reason);
    else throw r.reason;
  }
  return { ok, faults };
}
