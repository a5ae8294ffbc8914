import { UNWATCHED_PREFIX } from '../store/store.js';
import { uuidSortKey } from './time-uuid.js';

/**
 * Where the registry keeps things in a Store. Tenant ids never contain '/',
 * so every tenant's keys sit under their own prefix `t/{tenant}/`.
 *
 *   a/{t}            account record (global prefix, so tenants can be listed)
 *   t/{t}/s/{id}     service record                      durable
 *   ~/h/{t}/{id}     service heartbeat state (token...)  lease-bound, unwatched
 *   t/{t}/n/{id}     session record                      durable
 *   ~/m/{t}/{id}     session heartbeat state             lease-bound, unwatched
 *   ~/layout         '2' once the layout below was moved (etcd only)
 *   ~/legacy-seen    when a server last saw state at the legacy keys (etcd only)
 *   t/{t}/c/{id}     configuration value (raw string)    durable
 *   t/{t}/l          id of the last committed event (the commit-order CAS point)
 *   t/{t}/u          secret prefixes ever removed from the marker (secret-prefixes.ts)
 *   t/{t}/e/{ckey}   event, keyed by its commit id's sort key: commit order
 *   t/{t}/i/{ukey}   event id -> commit key, for events whose id is not their
 *                    commit id (service.timeout: id = expired token)
 *
 * Heartbeat state sits under UNWATCHED_PREFIX (store.ts): a heartbeat rewrites
 * it, and on etcd a watched key would come back to every registry server as a
 * watch event per heartbeat (bench/README.md, "Heartbeats on etcd"). Servers
 * learn other servers' deadlines from the service and session records instead
 * (follow.ts), and the expiry pass reads the heartbeat state before it acts.
 * Until session 10 it sat at `t/{t}/h/{id}` and `t/{t}/m/{id}` (LEGACY_BEAT_KINDS):
 * migrate-beats.ts moves such keys when a registry on etcd opens.
 */
export const keys = {
  accountPrefix: 'a/',
  account: (t: string) => `a/${t}`,
  tenantPrefix: (t: string) => `t/${t}/`,
  servicePrefix: (t: string) => `t/${t}/s/`,
  service: (t: string, id: string) => `t/${t}/s/${id}`,
  beatPrefix: (t: string) => `${UNWATCHED_PREFIX}h/${t}/`,
  beat: (t: string, id: string) => `${UNWATCHED_PREFIX}h/${t}/${id}`,
  sessionPrefix: (t: string) => `t/${t}/n/`,
  session: (t: string, id: string) => `t/${t}/n/${id}`,
  sessionBeatPrefix: (t: string) => `${UNWATCHED_PREFIX}m/${t}/`,
  sessionBeat: (t: string, id: string) => `${UNWATCHED_PREFIX}m/${t}/${id}`,
  configPrefix: (t: string) => `t/${t}/c/`,
  config: (t: string, id: string) => `t/${t}/c/${id}`,
  /** Written once heartbeat state of the layout before has been moved (migrate-beats.ts). */
  beatLayout: `${UNWATCHED_PREFIX}layout`,
  /** Registry time (ms) a server last saw heartbeat state at the legacy keys (legacy-beats.ts). */
  legacySeen: `${UNWATCHED_PREFIX}legacy-seen`,
  lastEvent: (t: string) => `t/${t}/l`,
  unmarkedSecrets: (t: string) => `t/${t}/u`,
  eventPrefix: (t: string) => `t/${t}/e/`,
  event: (t: string, commitId: string) => `t/${t}/e/${uuidSortKey(commitId)}`,
  eventIdPrefix: (t: string) => `t/${t}/i/`,
  eventId: (t: string, id: string) => `t/${t}/i/${uuidSortKey(id)}`,
};

/** Where heartbeat state was kept before it moved under UNWATCHED_PREFIX: `t/{t}/h/{id}` (services), `t/{t}/m/{id}` (sessions). */
export const LEGACY_BEAT_KINDS = [
  { legacyPrefix: (t: string) => `t/${t}/h/`, prefix: keys.beatPrefix },
  { legacyPrefix: (t: string) => `t/${t}/m/`, prefix: keys.sessionBeatPrefix },
] as const;

/**
 * Where a server from before session 10 keeps the heartbeat state of a service ('svc') or session ('ses'):
 * during a rolling upgrade such servers share the etcd with new ones and still write there.
 */
export function legacyBeatKey(kind: 'svc' | 'ses', t: string, id: string): string {
  return LEGACY_BEAT_KINDS[kind === 'svc' ? 0 : 1].legacyPrefix(t) + id;
}

const RECORD_KEY = /^t\/([^/]+)\/([sn])\/(.+)$/;

/** The tenant, kind and id of a service record (`t/{t}/s/{id}`, 'svc') or session record (`t/{t}/n/{id}`, 'ses'), or null for any other key. */
export function parseRecordKey(key: string): { tenant: string; kind: 'svc' | 'ses'; id: string } | null {
  const m = RECORD_KEY.exec(key);
  return m === null ? null : { tenant: m[1] as string, kind: m[2] === 's' ? 'svc' : 'ses', id: m[3] as string };
}
