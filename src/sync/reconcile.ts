import type { LocalService } from './local-state.js';

export type HeartbeatMode = 'session' | 'service';

/** What the registry should hold for a service: the fields we own. */
export interface Registration {
  id: string;
  tags: string[];
  metadata: Record<string, string>;
  /** Service mode only: session mode services live and die with the session. */
  heartbeat_timeout?: number;
}

export type Action =
  | { kind: 'register'; id: string; registration: Registration; fingerprint: string }
  | { kind: 'update'; id: string; registration: Registration; fingerprint: string }
  | { kind: 'deregister'; id: string };

/**
 * What besides a service's own state decides its registration: the time
 * (deregister_critical_after) and maintenance mode (`tether maint`).
 */
export interface Circumstances {
  now: number;
  /** True while the service (or the whole agent) is in maintenance: it stays out of discovery. */
  inMaintenance: (id: string) => boolean;
}

const ORDINARY: Circumstances = { now: 0, inMaintenance: () => false };

/**
 * When a critical service kept registered (`on_unhealthy: keep`) is to be
 * deregistered: its critical verdict plus deregister_critical_after; null
 * when that does not apply (healthy, not kept, no such setting).
 */
export function criticalDeadline(s: LocalService): number | null {
  const after = s.spec.deregisterCriticalAfterMs;
  if (after === null || s.spec.onUnhealthy !== 'keep' || s.health !== 'unhealthy' || s.criticalSince === null) return null;
  return s.criticalSince + after;
}

/**
 * The registration a service should have now, or null when it should not be
 * registered: healthy services are; unhealthy (or not yet probed) ones are not,
 * unless `on_unhealthy: keep`, which keeps them with metadata status=critical
 * once they have a verdict, until deregister_critical_after (if set) has
 * passed since that verdict. A tombstone never is, nor a service in maintenance.
 */
export function desiredRegistration(s: LocalService, mode: HeartbeatMode, at: Circumstances = { ...ORDINARY, now: Date.now() }): Registration | null {
  if (s.removing || at.inMaintenance(s.spec.id)) return null;
  const { spec } = s;
  const keep = spec.onUnhealthy === 'keep';
  if (s.health !== 'healthy' && !(keep && s.health === 'unhealthy')) return null;
  const deadline = criticalDeadline(s);
  if (deadline !== null && at.now >= deadline) return null;
  const metadata = keep ? { ...spec.metadata, status: s.health === 'healthy' ? 'passing' : 'critical' } : { ...spec.metadata };
  const reg: Registration = { id: spec.id, tags: [...spec.tags], metadata };
  if (mode === 'service') reg.heartbeat_timeout = spec.heartbeatTimeoutSec;
  return reg;
}

/** The earliest critical deadline still ahead of `now` (the syncer passes again then), or null. */
export function nextCriticalDeadline(services: Iterable<LocalService>, now: number): number | null {
  let next: number | null = null;
  for (const s of services) {
    const d = criticalDeadline(s);
    if (d !== null && d > now && (next === null || d < next)) next = d;
  }
  return next;
}

/** A stable string for comparing registrations (key order fixed by construction). */
export function fingerprint(r: Registration): string {
  return JSON.stringify([r.tags, Object.entries(r.metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), r.heartbeat_timeout ?? null]);
}

/**
 * The pure core of the agent: compares what each service should have with
 * what the registry holds for it and returns the calls to make, in a stable
 * order (removals first, so an id freed by one service can be reused).
 */
export function reconcile(services: Iterable<LocalService>, mode: HeartbeatMode, at: Circumstances = { ...ORDINARY, now: Date.now() }): Action[] {
  const removals: Action[] = [];
  const writes: Action[] = [];
  for (const s of services) {
    const want = desiredRegistration(s, mode, at);
    if (want === null) {
      if (s.registered !== null) removals.push({ kind: 'deregister', id: s.spec.id });
      continue;
    }
    const fp = fingerprint(want);
    if (s.registered === null) writes.push({ kind: 'register', id: want.id, registration: want, fingerprint: fp });
    else if (s.registered !== fp) writes.push({ kind: 'update', id: want.id, registration: want, fingerprint: fp });
  }
  return [...removals, ...writes];
}
