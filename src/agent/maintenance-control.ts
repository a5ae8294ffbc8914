import type { Logger } from 'pino';
import type { MaintenanceReply, MaintenanceRequest } from '../observability/local-api.js';
import type { AgentMetrics } from '../observability/metrics.js';
import type { Maintenance } from '../sync/maintenance.js';

export interface MaintenanceControlOptions {
  maintenance: Maintenance;
  metrics: AgentMetrics;
  log: Logger;
  /** The ids of the agent's services now (manifest and pinned). */
  serviceIds: () => string[];
  /** Asks the syncer for a pass: the change takes services out or brings them back. */
  resync: () => void;
}

/**
 * `tether maint` on the agent's side: checks a request, saves it (see
 * Maintenance: on disk before it takes effect), logs it, keeps the
 * maintenance metrics in step and asks for a sync pass.
 */
export class MaintenanceControl {
  constructor(private readonly opts: MaintenanceControlOptions) {}

  async change(req: MaintenanceRequest): Promise<MaintenanceReply> {
    const { maintenance, log } = this.opts;
    if (req.service !== null && req.enable && !this.opts.serviceIds().includes(req.service)) {
      return { status: 404, body: { error: `no service "${req.service}" in the manifest` } };
    }
    try {
      const changed = await maintenance.set(req.service, req.enable, req.reason);
      if (changed) {
        const what = req.service === null ? { scope: 'agent' } : { service: req.service };
        log.warn({ ...what, reason: req.reason }, req.enable ? 'maintenance enabled; out of discovery' : 'maintenance disabled; back in discovery');
        this.refreshMetrics();
        this.opts.resync();
      }
      return { status: 200, body: { changed, ...maintenance.snapshot() } };
    } catch (err) {
      log.error({ err }, 'maintenance change not saved; nothing changed');
      return { status: 500, body: { error: err instanceof Error ? err.message : String(err) } };
    }
  }

  /** tether_agent_maintenance and tether_service_maintenance for every service (after a change, a start, a reload). */
  refreshMetrics(): void {
    const { maintenance, metrics } = this.opts;
    metrics.agentMaintenance.set(maintenance.snapshot().agent === null ? 0 : 1);
    for (const id of this.opts.serviceIds()) metrics.serviceMaintenance.set({ service: id }, maintenance.isOn(id) ? 1 : 0);
  }
}
