import type { ServiceSpec } from '../manifest/model.js';

export type Health = 'unknown' | 'healthy' | 'unhealthy';

/**
 * What the agent knows of one service, Consul-style: the spec it wants, the
 * health its probes report, and what it believes the registry holds. A
 * service removed from the manifest stays as a tombstone (`removing`) until
 * the registry confirms the removal.
 */
export interface LocalService {
  spec: ServiceSpec;
  health: Health;
  /** The registration body the registry holds for us (its fingerprint), or null when not registered. */
  registered: string | null;
  removing: boolean;
  /** Service-mode heartbeat token (session mode: the session carries it). */
  token: string | null;
  lastProbe: { ok: boolean; output: string; at: number; durationMs: number } | null;
  lastHeartbeat: number | null;
  lastError: { message: string; at: number } | null;
}

export function newLocalService(spec: ServiceSpec): LocalService {
  return {
    spec,
    health: spec.check === null ? 'healthy' : 'unknown',
    registered: null,
    removing: false,
    token: null,
    lastProbe: null,
    lastHeartbeat: null,
    lastError: null,
  };
}
