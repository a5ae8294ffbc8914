import type { ServiceSpec } from '../manifest/model.js';

export type Health = 'unknown' | 'healthy' | 'unhealthy';

/**
 * What the agent knows of one service, Consul-style: the spec it wants, the
 * health its probes report, and what it believes the registry holds. A
 * service removed from the manifest stays as a tombstone (`removing`) until
 * the registry confirms the removal. Read-only outside LocalState: every
 * change goes through its methods.
 */
export interface LocalService {
  readonly spec: ServiceSpec;
  readonly health: Health;
  /** The registration body the registry holds for us (its fingerprint), or null when not registered. */
  readonly registered: string | null;
  readonly removing: boolean;
  readonly lastProbe: ProbeRecord | null;
  readonly lastHeartbeat: number | null;
  /**
   * When the registry last showed it holds the service (a registration or
   * update, or in service mode a heartbeat, that succeeded); null while not
   * registered. The resync does not check a service confirmed recently.
   */
  readonly confirmedAt: number | null;
  readonly lastError: { readonly message: string; readonly at: number } | null;
  /** When the service last became unhealthy (its critical verdict), or null while it is not unhealthy. */
  readonly criticalSince: number | null;
}

export interface ProbeRecord {
  readonly ok: boolean;
  readonly output: string;
  readonly at: number;
  readonly durationMs: number;
}

type Entry = { -readonly [K in keyof LocalService]: LocalService[K] };

/** The health a service starts with: one without a check is healthy at once. */
function initialHealth(spec: ServiceSpec): Health {
  return spec.check === null ? 'healthy' : 'unknown';
}

/**
 * The syncer's local services. Entries keep their identity for their whole
 * life (a revived tombstone is the same object), so a reference held for
 * status reads stays current. Methods on an unknown id do nothing.
 */
export class LocalState {
  private readonly entries = new Map<string, Entry>();

  get size(): number {
    return this.entries.size;
  }

  get(id: string): LocalService | undefined {
    return this.entries.get(id);
  }

  values(): IterableIterator<LocalService> {
    return this.entries.values();
  }

  /**
   * Adds a service, or revives its tombstone when it was removed and comes
   * back before the removal landed: what the registry holds for it is kept,
   * so reconcile updates or removes that registration instead of losing it.
   */
  add(spec: ServiceSpec): LocalService {
    const tomb = this.entries.get(spec.id);
    if (tomb?.removing) return this.revive(tomb, spec);
    const entry: Entry = { spec, health: initialHealth(spec), registered: null, removing: false, lastProbe: null, lastHeartbeat: null, confirmedAt: null, lastError: null, criticalSince: null };
    this.entries.set(spec.id, entry);
    return entry;
  }

  /** Makes the service a tombstone: reconcile deregisters it; `prune` drops it once it is gone. */
  remove(id: string): void {
    const e = this.entries.get(id);
    if (e) e.removing = true;
  }

  /**
   * A changed spec. A changed check forgets the last probe; the health stays
   * until the new check gives its own verdict (a changed interval must not
   * flap the registration), except that a service left without a check is healthy.
   */
  update(spec: ServiceSpec, checkChanged: boolean): void {
    const e = this.entries.get(spec.id);
    if (!e) return;
    e.spec = spec;
    if (!checkChanged) return;
    e.lastProbe = null;
    if (spec.check === null) {
      e.health = 'healthy';
      e.criticalSince = null;
    }
  }

  /** Sets the health; the critical clock (deregister_critical_after) starts when it turns unhealthy and stops when it turns anything else. */
  setHealth(id: string, health: Health, at = Date.now()): void {
    const e = this.entries.get(id);
    if (!e) return;
    if (health !== 'unhealthy') e.criticalSince = null;
    else if (e.health !== 'unhealthy' || e.criticalSince === null) e.criticalSince = at;
    e.health = health;
  }

  recordProbe(id: string, probe: ProbeRecord): void {
    const e = this.entries.get(id);
    if (e) e.lastProbe = probe;
  }

  /** The last failure for the service (null: its last call succeeded). */
  recordError(id: string, message: string | null, at = Date.now()): void {
    const e = this.entries.get(id);
    if (e) e.lastError = message === null ? null : { message, at };
  }

  /** A heartbeat of the service's own token chain succeeded: the registry holds it. */
  recordHeartbeat(id: string, at = Date.now()): void {
    const e = this.entries.get(id);
    if (!e) return;
    e.lastHeartbeat = at;
    if (e.registered !== null) e.confirmedAt = at;
  }

  /** What the registry now holds for the service: a registration's fingerprint (confirmed at `at`), or null. */
  setRegistered(id: string, fingerprint: string | null, at = Date.now()): void {
    const e = this.entries.get(id);
    if (!e) return;
    e.registered = fingerprint;
    e.confirmedAt = fingerprint === null ? null : at;
  }

  /** Drops tombstones whose removal the registry confirmed. */
  prune(): void {
    for (const [id, e] of this.entries) if (e.removing && e.registered === null) this.entries.delete(id);
  }

  private revive(tomb: Entry, spec: ServiceSpec): LocalService {
    Object.assign(tomb, { spec, removing: false, health: initialHealth(spec), lastProbe: null, criticalSince: null });
    return tomb;
  }
}
