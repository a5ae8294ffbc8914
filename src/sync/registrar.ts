import type { Logger } from 'pino';
import { TetherError } from '../lib/errors.js';
import type { AgentMetrics } from '../observability/metrics.js';
import { isFault } from '../registry/faults.js';
import type { Registry } from '../registry/registry.js';
import type { ServiceKeepers } from './keepers.js';
import type { LocalService, LocalState } from './local-state.js';
import { criticalDeadline, desiredRegistration, fingerprint, type Action, type Circumstances, type HeartbeatMode, type Registration } from './reconcile.js';
import { isServiceMissing } from './resync.js';
import type { SessionKeeper } from './session.js';

/** The registry side the Syncer is given and hands on to its Registrar. */
export interface SyncTarget {
  registry: Registry;
  tenant: string;
  mode: HeartbeatMode;
  /** The session timeout to use (session mode), from the current manifest. */
  sessionTimeoutSec: () => number;
  log: Logger;
  metrics: AgentMetrics;
}

export interface RegistrarOptions extends SyncTarget {
  services: LocalState;
  session: SessionKeeper;
  keepers: ServiceKeepers;
  /** What decides registrations besides each service's state, as of now. */
  circumstances: () => Circumstances;
  /** The registry forgot a service an update was for: it is registered again by another pass. */
  passAgain: () => void;
  /** A critical service passed its deregister_critical_after and leaves discovery. */
  onCriticalDeregister?: ((id: string) => void) | undefined;
}

/**
 * Performs the actions `reconcile()` returns against the registry, one call
 * (or two) each, and records their outcome in the local state. The Syncer
 * decides when (passes, retries, coalescing); this decides how.
 */
export class Registrar {
  constructor(private readonly opts: RegistrarOptions) {}

  /** Performs `action`; rejects with the registry's error (the caller records the failure). */
  async perform(action: Action, signal: AbortSignal): Promise<void> {
    const s = this.opts.services.get(action.id);
    if (!s) return;
    const { services, metrics } = this.opts;
    if (action.kind === 'deregister') await this.deregister(s, signal);
    else if (action.kind === 'update') await this.update(s, action, signal);
    else await this.register(s, action, signal);
    services.recordError(action.id, null);
    metrics.registrations.inc({ op: action.kind, result: 'ok' });
    metrics.serviceRegistered.set({ service: action.id }, s.registered === null ? 0 : 1);
  }

  /** The registry forgot a service its chain heartbeats: create it as it should be now, not as it was first registered. */
  async recreate(s: LocalService, token: string, signal: AbortSignal): Promise<string> {
    const now = desiredRegistration(s, this.opts.mode, this.opts.circumstances());
    if (now === null) throw new TetherError('sync.not_wanted', `service ${s.spec.id} is no longer to be registered`);
    const next = await this.createFor(s, now, signal);
    this.opts.services.setRegistered(s.spec.id, fingerprint(now));
    return next ?? token;
  }

  private async deregister(s: LocalService, signal: AbortSignal): Promise<void> {
    const { registry, tenant, log } = this.opts;
    const id = s.spec.id;
    await this.opts.keepers.stop(id);
    await registry.deleteService(tenant, id, signal).catch((err: unknown) => {
      if (!isFault(err, 'notFoundError')) throw err;
    });
    this.opts.services.setRegistered(id, null);
    const at = this.opts.circumstances();
    const deadline = criticalDeadline(s);
    const critical = deadline !== null && at.now >= deadline && !s.removing && !at.inMaintenance(id);
    if (critical) this.opts.onCriticalDeregister?.(id);
    log.info({ service: id, ...(critical ? { reason: 'deregister_critical_after' } : {}) }, 'deregistered');
  }

  private async update(s: LocalService, action: Extract<Action, { kind: 'update' }>, signal: AbortSignal): Promise<void> {
    const { id: _id, ...patch } = action.registration;
    try {
      await this.opts.registry.updateService(this.opts.tenant, action.id, patch, signal);
      this.opts.services.setRegistered(action.id, action.fingerprint);
      if (this.opts.mode === 'service') await this.opts.keepers.retime(s);
      this.opts.log.info({ service: action.id }, 'registration updated');
    } catch (err) {
      if (!isServiceMissing(err, action.id)) throw err;
      this.opts.services.setRegistered(action.id, null); // the registry forgot it: register again on the next pass
      this.opts.passAgain();
    }
  }

  /** Creates the service (see createFor) and, in service mode, starts its heartbeat chain. */
  private async register(s: LocalService, action: Extract<Action, { kind: 'register' }>, signal: AbortSignal): Promise<void> {
    const token = await this.createFor(s, action.registration, signal);
    this.opts.services.setRegistered(action.id, action.fingerprint);
    if (this.opts.mode === 'service' && token !== null) await this.opts.keepers.start(s, token);
    this.opts.log.info({ service: action.id, health: s.health }, 'registered');
  }

  /**
   * Creates the service with `registration`; an existing one with our id (a
   * previous run of ours) is replaced. Returns its token (null in session mode).
   */
  private async createFor(s: LocalService, registration: Registration, signal: AbortSignal): Promise<string | null> {
    const { registry, tenant, mode } = this.opts;
    const body: Record<string, unknown> = { ...registration };
    if (mode === 'session') body.session_id = await this.opts.session.ensure(this.opts.sessionTimeoutSec(), signal);
    try {
      return (await registry.createService(tenant, body, signal)).token;
    } catch (err) {
      if (!isFault(err, 'serviceWithThisIdExists')) throw err;
      await registry.deleteService(tenant, s.spec.id, signal).catch((e: unknown) => {
        if (!isFault(e, 'notFoundError')) throw e;
      });
      return (await registry.createService(tenant, body, signal)).token;
    }
  }
}
