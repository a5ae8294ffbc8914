import { uuidSortKey } from './time-uuid.js';

/**
 * Where the registry keeps things in a Store. Tenant ids never contain '/',
 * so every tenant's keys sit under their own prefix `t/{tenant}/`.
 *
 *   a/{t}            account record (global prefix, so tenants can be listed)
 *   t/{t}/s/{id}     service record                      durable
 *   t/{t}/h/{id}     service heartbeat state (token...)  lease-bound
 *   t/{t}/n/{id}     session record                      durable
 *   t/{t}/m/{id}     session heartbeat state             lease-bound
 *   t/{t}/c/{id}     configuration value (raw string)    durable
 *   t/{t}/l          id of the last committed event (the commit-order CAS point)
 *   t/{t}/u          secret prefixes ever removed from the marker (secret-prefixes.ts)
 *   t/{t}/e/{ckey}   event, keyed by its commit id's sort key: commit order
 *   t/{t}/i/{ukey}   event id -> commit key, for events whose id is not their
 *                    commit id (service.timeout: id = expired token)
 */
export const keys = {
  accountPrefix: 'a/',
  account: (t: string) => `a/${t}`,
  tenantPrefix: (t: string) => `t/${t}/`,
  servicePrefix: (t: string) => `t/${t}/s/`,
  service: (t: string, id: string) => `t/${t}/s/${id}`,
  beatPrefix: (t: string) => `t/${t}/h/`,
  beat: (t: string, id: string) => `t/${t}/h/${id}`,
  sessionPrefix: (t: string) => `t/${t}/n/`,
  session: (t: string, id: string) => `t/${t}/n/${id}`,
  sessionBeatPrefix: (t: string) => `t/${t}/m/`,
  sessionBeat: (t: string, id: string) => `t/${t}/m/${id}`,
  configPrefix: (t: string) => `t/${t}/c/`,
  config: (t: string, id: string) => `t/${t}/c/${id}`,
  lastEvent: (t: string) => `t/${t}/l`,
  unmarkedSecrets: (t: string) => `t/${t}/u`,
  eventPrefix: (t: string) => `t/${t}/e/`,
  event: (t: string, commitId: string) => `t/${t}/e/${uuidSortKey(commitId)}`,
  eventIdPrefix: (t: string) => `t/${t}/i/`,
  eventId: (t: string, id: string) => `t/${t}/i/${uuidSortKey(id)}`,
};

const BEAT_KEY = /^t\/([^/]+)\/([hm])\/(.+)$/;

/** The tenant, kind and id of a heartbeat-state key (`t/{t}/h/{id}` or `t/{t}/m/{id}`), or null for any other key. */
export function parseBeatKey(key: string): { tenant: string; kind: 'svc' | 'ses'; id: string } | null {
  const m = BEAT_KEY.exec(key);
  return m === null ? null : { tenant: m[1] as string, kind: m[2] === 'h' ? 'svc' : 'ses', id: m[3] as string };
}
