import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { HttpRegistry } from '../client/http-registry.js';
import { FailoverRegistry } from '../client/failover.js';
import { TetherError } from '../lib/errors.js';
import { formatIssue, type ManifestIssue } from '../manifest/issues.js';
import { loadManifest, type LoadResult } from '../manifest/load.js';
import { HttpPool } from '../lib/http-pool.js';
import type { Manifest, ServiceSpec, Upstream } from '../manifest/model.js';
import { startLocalApi, type LocalApi } from '../observability/local-api.js';
import { resolveApiToken } from '../observability/local-api-auth.js';
import { AgentMetrics } from '../observability/metrics.js';
import { TtlBoard } from '../probes/ttl.js';
import type { Materializer } from '../materialize/materializer.js';
import type { Registry } from '../registry/registry.js';
import { Syncer } from '../sync/syncer.js';
import { Maintenance } from '../sync/maintenance.js';
import { MaintenanceControl } from './maintenance-control.js';
import type { MaintenanceRequest } from '../observability/local-api.js';
import { packageVersion } from '../version.js';
import { ServiceRuntime } from './runtime.js';
import type { AgentStatus } from './status.js';
import { watchPaths } from './watch.js';
import { upstreamTls } from './upstream-tls.js';
import { startGroupWatchdog } from '../lib/process-groups.js';
import { AgentWorkers, type WorkerQueues } from '../workers/agent-workers.js';

export interface AgentOptions {
  /** Manifest file or conf.d directory. */
  configPath: string;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** An in-process registry (`tether dev`) instead of the manifest's upstream. The caller closes it. */
  upstream?: { registry: Registry; tenant: string; url: string };
  /** The queues the workers use, with `upstream` (default: the manifest upstream's server, the tenant's project). */
  queues?: WorkerQueues;
  /** Overrides agent.listen (tests use port 0). */
  listen?: { host: string; port: number };
  /** Watch the manifest for changes (default true). */
  watch?: boolean;
  metrics?: AgentMetrics;
  /** Called with a file's path after its bytes changed (`tether exec` restarts or signals its child). */
  onFileChange?: (path: string) => void;
  /** Extra sections of /v1/status (`tether exec` adds `exec`). */
  statusExtra?: () => Pick<AgentStatus, 'exec'>;
}

/** Time allowed to deregister at shutdown. */
const SHUTDOWN_MS = 4000;

/**
 * The agent's composition root: manifest -> probes -> syncer -> registry,
 * plus the local API and hot reload. `start` resolves once the local API is
 * listening and the first sync has been asked for; `close` deregisters.
 */
export class Agent {
  private manifest: Manifest;
  /** The manifest's session timeout (see sessionTimeoutSec), computed when it is loaded. */
  private sessionTimeout: number;
  private loadedAt = Date.now();
  private rejected: ManifestIssue[] = [];
  private readonly startedAt = Date.now();
  private workers: AgentWorkers;
  /** `tether maint` (the local API's /v1/maint). */
  private readonly maint: MaintenanceControl;
  private api: LocalApi | null = null;
  private materializer: Materializer | null = null;
  private stopWatching: (() => Promise<void>) | null = null;
  private closed: Promise<void> | null = null;
  /** Services added at run time (the `tether exec` child's), kept across manifest reloads. */
  private readonly pinned = new Map<string, ServiceSpec>();

  private constructor(
    private readonly opts: AgentOptions,
    manifest: Manifest,
    private readonly upstream: { registry: Registry; tenant: string; url: string; close?: () => Promise<void>; reloadTls?: () => Promise<void> },
    private readonly syncer: Syncer,
    private readonly runtime: ServiceRuntime,
    private readonly ttl: TtlBoard,
    readonly metrics: AgentMetrics,
    private readonly maintenance: Maintenance,
  ) {
    this.manifest = manifest;
    this.sessionTimeout = sessionTimeoutOf(manifest);
    this.workers = new AgentWorkers(opts.logger.child({ component: 'workers' }), metrics, opts.queues);
    this.maint = new MaintenanceControl({
      maintenance,
      metrics,
      log: opts.logger.child({ component: 'agent' }),
      serviceIds: () => this.serviceSpecs().map((s) => s.id),
      resync: () => this.syncer.trigger(),
    });
  }

  /**
   * Loads the manifest and starts everything. Rejects with TetherError
   * `manifest.invalid` (message lists every issue) when the manifest is
   * invalid, `manifest.not_found`, or `agent.no_upstream` without a registry.
   */
  static async start(opts: AgentOptions): Promise<Agent> {
    const log = opts.logger.child({ component: 'agent' });
    const manifest = await loadOrThrow(loadManifest(opts.configPath, opts.env));
    // Checks, actions and hooks must not outlive the agent, even a SIGKILLed one.
    startGroupWatchdog();
    const metrics = opts.metrics ?? new AgentMetrics();
    const upstream = opts.upstream ?? (await httpUpstream(manifest, opts.logger.child({ component: 'upstream' })));
    const ttl = new TtlBoard();
    // Before the first pass: a service in maintenance must not be registered even for a moment.
    const maintenance = await Maintenance.load(manifest.agent.stateDir, (message) => log.error({ err: message }, 'maintenance state unreadable; agent-wide maintenance is on'));
    let agentRef: Agent | null = null;
    const syncer = new Syncer({
      registry: upstream.registry,
      tenant: upstream.tenant,
      mode: manifest.agent.heartbeat,
      sessionTimeoutSec: () => (agentRef ? agentRef.sessionTimeoutSec() : 15),
      log: opts.logger.child({ component: 'sync' }),
      metrics,
      onPass: (ok) => metrics.ready.set(ok || syncer.synced ? 1 : 0),
      inMaintenance: (id) => maintenance.isOn(id),
      onCriticalDeregister: () => metrics.criticalDeregistrations.inc(),
      // One knob for both resyncs: the services' check (one GET per own service) and the files' full sync.
      resyncIntervalMs: () => (agentRef?.manifest ?? manifest).agent.resyncIntervalMs,
    });
    const runtime = new ServiceRuntime(syncer, ttl, metrics, opts.logger.child({ component: 'probes' }));
    const agent = new Agent(opts, manifest, upstream, syncer, runtime, ttl, metrics, maintenance);
    agentRef = agent;
    const listen = opts.listen ?? manifest.agent.listen;
    const apiToken = await resolveApiToken(opts.env ?? process.env, manifest.agent.apiTokenFile);
    agent.api = await startLocalApi(listen.host, listen.port, agent.handlers(), opts.logger.child({ component: 'local-api' }), { token: apiToken });
    syncer.start();
    if (manifest.services.length > 0) syncer.openSession();
    runtime.apply(manifest.services);
    agent.maint.refreshMetrics();
    await agent.startMaterializer();
    await agent.workers.apply(manifest);
    if (opts.watch !== false) agent.stopWatching = watchPaths(() => [opts.configPath, ...templatePaths(agent.manifest)], () => void agent.reload({ watched: true }), log);
    log.info({ api: agent.api.url, registry: upstream.url, services: manifest.services.length, mode: manifest.agent.heartbeat }, 'agent started');
    return agent;
  }

  /**
   * Files and hooks run in a Materializer; a manifest without them has none,
   * and never loads its modules (templates and all: start-up time and memory).
   */
  private async startMaterializer(): Promise<void> {
    const m = this.manifest;
    if (m.files.length === 0 && m.hooks.length === 0) return;
    const { Materializer } = await import('../materialize/materializer.js');
    this.materializer = new Materializer({
      registry: this.upstream.registry,
      tenant: this.upstream.tenant,
      files: m.files,
      hooks: m.hooks,
      stateDir: m.agent.stateDir,
      resyncIntervalMs: m.agent.resyncIntervalMs,
      log: this.opts.logger.child({ component: 'files' }),
      metrics: this.metrics,
      onFileChange: this.opts.onFileChange,
      queues: this.workers.poster(() => this.manifest),
      onUpstream: { failed: (op, err) => this.syncer.upstreamFailed(op, err), ok: () => this.syncer.upstreamOk() },
    });
    this.materializer.start();
  }

  /** Ready: the first reconcile of services and, with files, the first full sync are done. */
  ready(): boolean {
    return this.syncer.synced && (this.materializer?.synced ?? true);
  }

  /** The local API's base URL, e.g. http://127.0.0.1:8471 */
  get apiUrl(): string {
    return this.api?.url ?? '';
  }

  /** The session timeout: agent.session_timeout, else the smallest service heartbeat_timeout. */
  sessionTimeoutSec(): number {
    return this.sessionTimeout;
  }

  /**
   * Re-reads the manifest: an invalid one changes nothing (its issues show in
   * /v1/status and a metric); a valid one is applied as a diff. Never rejects.
   * `watched`: the file watcher saw the change, not an operator (SIGHUP,
   * POST /v1/reload); then a manifest that removes every service is refused.
   */
  async reload(opts: { watched?: boolean } = {}): Promise<{ ok: boolean; issues: ManifestIssue[] }> {
    // Renewed upstream TLS files (cert-manager, certbot) are picked up by a reload; a bad set keeps the previous one.
    await Promise.all([this.upstream.reloadTls?.(), this.workers.reloadTls()]).catch((err: unknown) =>
      this.opts.logger.error({ err }, 'upstream TLS files rejected; the previous ones stay'),
    );
    try {
      return await this.applyReload(opts.watched === true);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.opts.logger.error({ err }, 'reload failed; keeping the running configuration');
      this.metrics.reloads.inc({ result: 'error' });
      return { ok: false, issues: [{ file: this.opts.configPath, line: 0, column: 0, path: '', message }] };
    }
  }

  private async applyReload(watched: boolean): Promise<{ ok: boolean; issues: ManifestIssue[] }> {
    const log = this.opts.logger.child({ component: 'agent' });
    let issues: ManifestIssue[];
    let next: Manifest | null = null;
    try {
      const r = await loadManifest(this.opts.configPath, this.opts.env);
      issues = r.issues;
      next = r.manifest;
    } catch (err) {
      issues = [{ file: this.opts.configPath, line: 0, column: 0, path: '', message: err instanceof Error ? err.message : String(err) }];
    }
    // Start refuses a manifest without upstream (tether dev aside); so does a reload, or a truncated file that still parses would deregister everything.
    if (next && !next.upstream && this.manifest.upstream) {
      const file = next.sourceFiles[0] ?? this.opts.configPath;
      issues = [{ file, line: 1, column: 1, path: 'upstream', message: 'is required (the agent runs with one; a manifest without it is refused)' }];
      next = null;
    }
    // A file cut short can still parse (cut after `agent:`, it has no services): from the watcher, a change that
    // would deregister every service is taken as an edit gone wrong; an operator confirms it with SIGHUP or POST /v1/reload.
    if (next && watched && next.services.length === 0 && this.manifest.services.length > 0) {
      const file = next.sourceFiles[0] ?? this.opts.configPath;
      issues = [{ file, line: 1, column: 1, path: 'services', message: `the change removes all ${this.manifest.services.length} services; apply it with SIGHUP or POST /v1/reload if that is meant` }];
      next = null;
    }
    if (!next) {
      this.rejected = issues;
      this.metrics.reloads.inc({ result: 'error' });
      this.metrics.manifestValid.set(0);
      log.error({ issues: issues.map(formatIssue) }, 'manifest change rejected; keeping the running configuration');
      return { ok: false, issues };
    }
    if (JSON.stringify(next.upstream) !== JSON.stringify(this.manifest.upstream) || next.agent.heartbeat !== this.manifest.agent.heartbeat) {
      log.warn('upstream and agent.heartbeat changes take effect at the next restart');
    }
    const outputsChanged =
      JSON.stringify([next.files, next.hooks, next.actions]) !== JSON.stringify([this.manifest.files, this.manifest.hooks, this.manifest.actions]);
    this.manifest = next;
    this.sessionTimeout = sessionTimeoutOf(next);
    this.loadedAt = Date.now();
    this.rejected = [];
    const diff = this.runtime.apply(this.serviceSpecs());
    this.maint.refreshMetrics();
    // Files: a changed list restarts the materializer (files stay as they are meanwhile);
    // otherwise a template may have changed, so every file renders again (unchanged bytes are not written).
    if (outputsChanged) {
      await this.materializer?.close();
      this.materializer = null;
      await this.startMaterializer();
    } else {
      await this.materializer?.refresh();
    }
    const workers = await this.workers.apply(next);
    this.metrics.reloads.inc({ result: 'ok' });
    this.metrics.manifestValid.set(1);
    log.info({ ...diff, workers }, 'manifest reloaded');
    return { ok: true, issues: [] };
  }

  /**
   * Adds a service for as long as the caller wants it (the `tether exec`
   * child's): probed and registered like the manifest's, until removeService.
   */
  addService(spec: ServiceSpec): void {
    this.pinned.set(spec.id, spec);
    this.runtime.apply(this.serviceSpecs());
  }

  /** Removes a service added by addService: it is deregistered. */
  removeService(id: string): void {
    if (this.pinned.delete(id)) this.runtime.apply(this.serviceSpecs());
  }

  private serviceSpecs(): ServiceSpec[] {
    return this.pinned.size === 0 ? this.manifest.services : [...this.manifest.services, ...this.pinned.values()];
  }

  /** The registry this agent talks to (`tether exec` reads the child's environment from it). */
  get registry(): { registry: Registry; tenant: string } {
    return { registry: this.upstream.registry, tenant: this.upstream.tenant };
  }

  status(): AgentStatus {
    return {
      ...this.opts.statusExtra?.(),
      version: packageVersion(),
      startedAt: this.startedAt,
      ready: this.ready(),
      upstream: {
        url: this.upstream.url,
        tenant: this.upstream.tenant,
        mode: this.manifest.agent.heartbeat,
        session: this.syncer.session.id,
        lastError: this.syncer.upstreamError,
      },
      manifest: { files: [...this.manifest.sourceFiles], loadedAt: this.loadedAt, issues: this.rejected },
      // In session mode one heartbeat keeps every registered service alive: show the session's.
      maintenance: this.maintenance.snapshot(),
      services: this.runtime.status().map((svc) => ({
        ...svc,
        ...(svc.lastHeartbeat === null && svc.registered ? { lastHeartbeat: this.syncer.session.lastHeartbeat } : {}),
        maintenance: this.maintenance.entryFor(svc.id),
      })),
      files: this.materializer?.status() ?? [],
      workers: this.workers.status(),
    };
  }

  private handlers() {
    return {
      status: () => this.status(),
      ready: () => ({ ready: this.ready(), reason: this.ready() ? null : 'first sync with the registry not done yet' }),
      reload: () => this.reload(),
      maintenance: (req: MaintenanceRequest) => this.maint.change(req),
      maintenanceState: () => this.maintenance.snapshot(),
      ttlReport: (service: string, status: 'pass' | 'fail', note: string | null) => {
        if (!this.runtime.hasTtlCheck(service)) return false;
        this.ttl.report(service, status, note ?? undefined);
        return this.runtime.ttlReported(service);
      },
      metrics: this.metrics,
    };
  }

  /** Graceful: stop probes and watchers, deregister every service (bounded), close the local API. Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.stopWatching?.();
      // First: running actions are aborted and their messages released while the upstream is still open.
      await this.workers.close();
      await this.runtime.stopAll();
      await this.materializer?.close();
      await this.syncer.close(SHUTDOWN_MS);
      await this.api?.close();
      await this.upstream.close?.();
      this.opts.logger.child({ component: 'agent' }).info('agent stopped');
    })();
    return this.closed;
  }
}

/**
 * agent.session_timeout, else the smallest service heartbeat_timeout (15 s
 * without services). Asked for at every registration: 500 services at
 * start-up would otherwise scan the list 500 times.
 */
function sessionTimeoutOf(m: Manifest): number {
  if (m.agent.sessionTimeoutSec !== null) return m.agent.sessionTimeoutSec;
  let min = Infinity;
  for (const s of m.services) min = Math.min(min, s.heartbeatTimeoutSec);
  return min === Infinity ? 15 : min;
}

/** Template files, watched like the manifest. */
function templatePaths(m: Manifest): string[] {
  return [...new Set(m.files.flatMap((f) => (f.template === null ? [] : [f.template])))];
}

async function loadOrThrow(loading: Promise<LoadResult>): Promise<Manifest> {
  const { manifest, issues } = await loading;
  if (!manifest) throw new TetherError('manifest.invalid', issues.map(formatIssue).join('\n'));
  return manifest;
}

export async function httpUpstream(
  m: Manifest,
  log?: Logger,
): Promise<{ registry: Registry; tenant: string; url: string; close: () => Promise<void>; reloadTls: () => Promise<void> }> {
  const up = m.upstream;
  const first = up?.endpoints[0];
  if (!up || !first) throw new TetherError('agent.no_upstream', 'the manifest has no upstream.url (or use `tether dev` for an embedded registry)');
  const token = up.tokenFile ? (await readFile(up.tokenFile, 'utf8')).trim() : (up.token ?? undefined);
  const dispatchers: HttpPool[] = [];
  const clients: HttpRegistry[] = [];
  for (const e of up.endpoints) {
    const dispatcher = up.tls ? await tlsPool(e.base, up.tls) : undefined;
    if (dispatcher) dispatchers.push(dispatcher);
    clients.push(new HttpRegistry({ url: e.base, ...(token ? { token } : {}), timeoutMs: up.timeoutMs, dispatcher }));
  }
  // Several URLs: one registry through several servers, tried in order (see FailoverRegistry).
  const registry =
    clients.length === 1
      ? (clients[0] as HttpRegistry)
      : new FailoverRegistry(clients, (from, to, err) =>
          log?.warn({ from: up.endpoints[from]?.url, to: up.endpoints[to]?.url, err }, 'registry server failed; using the next one'),
        );
  return {
    registry,
    tenant: first.tenant,
    url: up.endpoints.map((e) => e.url).join(','),
    close: async () => {
      await registry.close();
      await Promise.all(dispatchers.map((d) => d.close()));
    },
    reloadTls: async () => {
      if (!up.tls) return;
      const tls = await upstreamTls(up.tls);
      for (const d of dispatchers) d.updateTls(tls);
    },
  };
}

/** A keep-alive pool to an https registry with the manifest's CA, client certificate and server name. */
async function tlsPool(origin: string, tls: NonNullable<Upstream['tls']>): Promise<HttpPool> {
  return new HttpPool(origin, await upstreamTls(tls));
}
