import { describe, expect, it } from 'vitest';
import type { CheckSpec, ServiceSpec } from '../../src/manifest/model.js';
import { LocalState } from '../../src/sync/local-state.js';
import { reconcile } from '../../src/sync/reconcile.js';

const check: CheckSpec = { probe: { kind: 'tcp', host: '127.0.0.1', port: 1 }, intervalMs: 1000, timeoutMs: 500, initialDelayMs: 0, rise: 1, fall: 1 };
const spec = (id: string, over: Partial<ServiceSpec> = {}): ServiceSpec => ({
  id,
  tags: [],
  metadata: {},
  heartbeatTimeoutSec: 15,
  onUnhealthy: 'deregister',
  deregisterCriticalAfterMs: null,
  check,
  origin: 'test:1',
  ...over,
});

describe('LocalState', () => {
  it('adds a service unknown until probed, or healthy without a check', () => {
    const state = new LocalState();
    expect(state.add(spec('a')).health).toBe('unknown');
    expect(state.add(spec('b', { check: null })).health).toBe('healthy');
    expect([...state.values()].map((s) => s.spec.id)).toEqual(['a', 'b']);
  });

  it('keeps a removed service as a tombstone until its registration is gone, then prunes it', () => {
    const state = new LocalState();
    state.add(spec('a', { check: null }));
    state.setRegistered('a', 'fp-1');
    state.remove('a');
    expect(reconcile(state.values(), 'session')).toEqual([{ kind: 'deregister', id: 'a' }]);
    state.prune();
    expect(state.get('a')?.removing).toBe(true); // still registered: kept
    state.setRegistered('a', null);
    state.prune();
    expect(state.get('a')).toBeUndefined();
  });

  it('revives a tombstone added again: same entry, registration kept, health and probe reset', () => {
    const state = new LocalState();
    const first = state.add(spec('a'));
    state.setHealth('a', 'healthy');
    state.recordProbe('a', { ok: true, output: 'ok', at: 1, durationMs: 1 });
    state.setRegistered('a', 'fp-1');
    state.remove('a');
    const again = state.add(spec('a', { tags: ['new'] }));
    expect(again).toBe(first);
    expect(again).toMatchObject({ removing: false, registered: 'fp-1', health: 'unknown', lastProbe: null, spec: { tags: ['new'] } });
  });

  it('update: a changed check forgets the last probe; no check left means healthy; the same check keeps both', () => {
    const state = new LocalState();
    state.add(spec('a'));
    state.setHealth('a', 'unhealthy');
    state.recordProbe('a', { ok: false, output: 'refused', at: 1, durationMs: 1 });
    state.update(spec('a', { tags: ['t'] }), false);
    expect(state.get('a')).toMatchObject({ health: 'unhealthy', lastProbe: { output: 'refused' }, spec: { tags: ['t'] } });
    state.update(spec('a', { check: { ...check, intervalMs: 2000 } }), true);
    expect(state.get('a')).toMatchObject({ health: 'unhealthy', lastProbe: null });
    state.update(spec('a', { check: null }), true);
    expect(state.get('a')?.health).toBe('healthy');
  });

  it('records errors and heartbeats; calls on an unknown id do nothing', () => {
    const state = new LocalState();
    state.add(spec('a'));
    state.recordError('a', 'boom', 5);
    state.recordHeartbeat('a', 7);
    expect(state.get('a')).toMatchObject({ lastError: { message: 'boom', at: 5 }, lastHeartbeat: 7 });
    state.recordError('a', null);
    expect(state.get('a')?.lastError).toBeNull();
    state.setHealth('zz', 'healthy');
    state.remove('zz');
    expect(state.size).toBe(1);
  });
});
