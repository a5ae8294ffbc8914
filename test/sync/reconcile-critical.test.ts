import { describe, expect, it } from 'vitest';
import type { CheckSpec, ServiceSpec } from '../../src/manifest/model.js';
import { LocalState } from '../../src/sync/local-state.js';
import { criticalDeadline, desiredRegistration, nextCriticalDeadline, reconcile } from '../../src/sync/reconcile.js';

/** The pure rules of deregister_critical_after and maintenance in reconcile. */

const check: CheckSpec = { probe: { kind: 'tcp', host: '127.0.0.1', port: 1 }, intervalMs: 1000, timeoutMs: 500, initialDelayMs: 0, rise: 1, fall: 1 };
const spec = (id: string, over: Partial<ServiceSpec> = {}): ServiceSpec => ({
  id,
  tags: [],
  metadata: {},
  heartbeatTimeoutSec: 15,
  onUnhealthy: 'keep',
  deregisterCriticalAfterMs: 10_000,
  check,
  origin: 'test:1',
  ...over,
});
const at = (now: number, maint: string[] = []) => ({ now, inMaintenance: (id: string) => maint.includes(id) });

describe('deregister_critical_after', () => {
  it('keeps a critical service until its verdict plus the setting, then wants it gone; a pass wants it back', () => {
    const state = new LocalState();
    state.add(spec('web'));
    state.setHealth('web', 'healthy', 0);
    state.setHealth('web', 'unhealthy', 1000);
    const web = state.get('web')!;
    expect(web.criticalSince).toBe(1000);
    expect(criticalDeadline(web)).toBe(11_000);
    expect(desiredRegistration(web, 'session', at(10_999))?.metadata.status).toBe('critical');
    expect(desiredRegistration(web, 'session', at(11_000))).toBeNull();
    state.setRegistered('web', 'fp');
    expect(reconcile(state.values(), 'session', at(11_000))).toEqual([{ kind: 'deregister', id: 'web' }]);
    // A repeated unhealthy verdict does not restart the clock.
    state.setHealth('web', 'unhealthy', 5000);
    expect(criticalDeadline(web)).toBe(11_000);
    state.setHealth('web', 'healthy', 12_000);
    expect(web.criticalSince).toBeNull();
    expect(desiredRegistration(web, 'session', at(12_000))?.metadata.status).toBe('passing');
  });

  it('does not apply without keep or without the setting; the next deadline ahead is the earliest', () => {
    const state = new LocalState();
    state.add(spec('a'));
    state.add(spec('b', { deregisterCriticalAfterMs: 3000 }));
    state.add(spec('c', { deregisterCriticalAfterMs: null }));
    state.add(spec('d', { onUnhealthy: 'deregister' }));
    for (const id of ['a', 'b', 'c', 'd']) state.setHealth(id, 'unhealthy', 1000);
    expect(criticalDeadline(state.get('c')!)).toBeNull();
    expect(criticalDeadline(state.get('d')!)).toBeNull();
    expect(nextCriticalDeadline(state.values(), 1000)).toBe(4000);
    expect(nextCriticalDeadline(state.values(), 4000)).toBe(11_000);
    expect(nextCriticalDeadline(state.values(), 11_000)).toBeNull();
    expect(desiredRegistration(state.get('c')!, 'session', at(1e9))?.metadata.status).toBe('critical');
  });
});

describe('maintenance', () => {
  it('wants a service in maintenance unregistered whatever its health, and back once it is not', () => {
    const state = new LocalState();
    state.add(spec('web', { check: null }));
    state.setRegistered('web', 'fp');
    expect(reconcile(state.values(), 'session', at(0, ['web']))).toEqual([{ kind: 'deregister', id: 'web' }]);
    state.setRegistered('web', null);
    expect(reconcile(state.values(), 'session', at(0, ['web']))).toEqual([]);
    expect(reconcile(state.values(), 'session', at(0))).toMatchObject([{ kind: 'register', id: 'web' }]);
  });
});
