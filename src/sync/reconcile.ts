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
 * The registration a service should have now, or null when it should not be
 * registered: healthy services are; unhealthy (or not yet probed) ones are not,
 * unless `on_unhealthy: keep`, which keeps them with metadata status=critical
 * once they have a verdict. A tombstone never is.
 */
export function desiredRegistration(s: LocalService, mode: HeartbeatMode): Registration | null {
  if (s.removing) return null;
  const { spec } = s;
  const keep = spec.onUnhealthy === 'keep';
  if (s.health !== 'healthy' && !(keep && s.health === 'unhealthy')) return null;
  const metadata = keep ? { ...spec.metadata, status: s.health === 'healthy' ? 'passing' : 'critical' } : { ...spec.metadata };
  const reg: Registration = { id: spec.id, tags: [...spec.tags], metadata };
  if (mode === 'service') reg.heartbeat_timeout = spec.heartbeatTimeoutSec;
  return reg;
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
export function reconcile(services: Iterable<LocalService>, mode: HeartbeatMode): Action[] {
  const removals: Action[] = [];
  const writes: Action[] = [];
  for (const s of services) {
    const want = desiredRegistration(s, mode);
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
