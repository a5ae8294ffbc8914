import type { ManifestIssue } from '../manifest/issues.js';
import type { CheckState } from '../probes/check-group.js';
import type { FileStatus } from '../materialize/file-renderer.js';
import type { ExecStatus } from '../exec/supervisor.js';
import type { MaintenanceEntry, MaintenanceSnapshot } from '../sync/maintenance.js';

/** One service in `/v1/status`. */
export interface ServiceStatus {
  id: string;
  /** Where the manifest declares it (file:line). */
  origin: string;
  health: 'unknown' | 'healthy' | 'unhealthy';
  registered: boolean;
  /** A one-line summary of the check, e.g. `http http://127.0.0.1:8080/healthz every 5s`, or null. */
  check: string | null;
  /** Each check (several with `checks:`): name, kind, health, last result, why it cannot run. */
  checks: CheckState[];
  lastProbe: { ok: boolean; output: string; at: number; durationMs: number } | null;
  lastHeartbeat: number | null;
  lastError: { message: string; at: number } | null;
  /** Since when it is critical (unhealthy), and when deregister_critical_after takes it out (null: never); null while not unhealthy. */
  critical: { since: number; deregisterAt: number | null } | null;
  /** The maintenance that keeps it out of discovery (its own, else the agent's), or null. */
  maintenance: MaintenanceEntry | null;
}

/** The agent's `/v1/status` document. */
export interface AgentStatus {
  version: string;
  startedAt: number;
  ready: boolean;
  upstream: { url: string; tenant: string; mode: 'session' | 'service'; session: string | null; lastError: { message: string; at: number } | null };
  manifest: {
    files: string[];
    loadedAt: number;
    /** Issues of the last rejected change (the running manifest stays in force); empty when it was accepted. */
    issues: ManifestIssue[];
  };
  /** Queue workers: counts since the worker started, running actions, the last error. */
  workers: Array<import('../workers/worker.js').WorkerStatus>;
  /** Maintenance mode (`tether maint`): agent-wide and per service. */
  maintenance: MaintenanceSnapshot;
  services: ServiceStatus[];
  /** Rendered files: last render, last change, last error (with the template's line). */
  files: FileStatus[];
  /** `tether exec` only: the child (state, restarts, crash loop). */
  exec?: ExecStatus;
}
