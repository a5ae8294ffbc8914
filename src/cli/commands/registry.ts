import { mkdir } from 'node:fs/promises';
import { Server as TlsServer } from 'node:tls';
import { join } from 'node:path';
import { TetherError } from '../../lib/errors.js';
import { firstSignal } from '../../lifecycle/signals.js';
import { instrumentStore } from '../../observability/instrumented-store.js';
import { openLogger } from '../../observability/logger.js';
import { ServerMetrics } from '../../observability/server-metrics.js';
import { RegistryService } from '../../registry/service.js';
import { createQueueService, type QueueService } from '../../queues/service.js';
import { parseQueueLimits } from '../queue-limits.js';
import type { ResourceLimits } from '../../registry/types.js';
import { createRegistryServer } from '../../server/index.js';
import { openQuotaStore, parseBytes, type QuotaFlags } from '../../server/quota/open-quota.js';
import { registerQuotaMetrics } from '../../server/quota/quota-metrics.js';
import { RouteDeliverer } from '../../routes/deliverer.js';
import { RouteStore } from '../../routes/route-store.js';
import type { Logger } from 'pino';
import { openSqliteStore } from '../../store/sqlite.js';
import type { Store } from '../../store/store.js';
import { parseDuration } from '../../lib/duration.js';
import { packageVersion } from '../../version.js';
import { reloadableAuthFile } from '../auth-reload.js';
import { reloadableServerTls } from '../../server/tls.js';
import { ETCD_SECURITY_HELP, etcdSecurityOptions, parseEtcdSecurity, parseServerTlsFlags, SERVER_TLS_HELP, serverTlsOptions, type EtcdSecurity } from '../tls-flags.js';
import { LOG_HELP, logOptions, logSettings } from '../log-flags.js';
import { CONNECTION_HELP, connectionOptions, parseConnectionFlags } from '../connection-flags.js';
import { openAccessLog, type AccessLog } from '../../server/access-log.js';
import { out, parse, positionals, UsageError, type Command } from '../command.js';

const help = `Usage: tether registry --data DIR [options]
       tether registry --store etcd --etcd-endpoints URL[,URL...] [options]

Runs a Service Registry v1.0 server (under /v1.0/{tenant}) and a Cloud Queues
v1 server (OpenStack Zaqar v1: under /v1, or /v1/{project_id}) on one port, over
a SQLite database in DIR, or over an etcd v3 cluster (several servers may share
one cluster). 'tether server' is the same command.

Options:
  --listen HOST:PORT          address to listen on (default 127.0.0.1:8470; port 0 picks a free one)
  --data DIR                  data directory, created if missing (holds registry.db); SQLite only
  --store sqlite|etcd         storage engine (default sqlite)
  --etcd-endpoints LIST       etcd client URLs, comma-separated, tried in order (http://127.0.0.1:2379)
  --etcd-prefix PREFIX        key prefix in etcd (default tether/); servers sharing data use the same one
  --etcd-timeout DURATION     longest wait for etcd before a request fails with 503 (default 2s)
  --etcd-transport grpc|gateway  etcd's native gRPC API (default) or its JSON gateway (/v3/... over HTTP);
                              both on the same client URLs
  --etcd-max-txn-ops N        the cluster's --max-txn-ops (default 128, etcd's default); a queue post is one
                              txn, so it takes at most N-5 messages (400 Invalid API call beyond)
  --auth-file FILE            YAML token list (tokens: [{token, tenant}]); without it anyone may call the APIs.
                              A tenant's token also opens the queues project of the same id (X-Project-Id or
                              /v1/{project_id}); queues without a project need a tenant "*" token
  --event-retention DURATION  how long events are kept: 500ms, 10s, 2m, 1h, 30d or seconds (default 30d)
  --limits LIST               resource limits for every tenant, e.g. service=1000,configuration_value=5000,session=200
                              (defaults: service=200, configuration_value=1000, session=100)
  --queue-limits LIST         Cloud Queues limits (spec section 3), e.g. max_messages_per_claim=100,max_wait_ms=20000;
                              names are the QueueLimits fields in snake_case (defaults: the upstream ones)
  --max-tenants N             most tenants the server holds; a new one beyond it is refused (400 limitReached,
                              queues 400 Invalid API call)
  --tenant-quota-bytes SIZE   most bytes of configuration values, queue messages and queue metadata per tenant
                              (65536, 64K, 10MB, 1GiB); a write beyond it is refused like --max-tenants
  --max-db-bytes SIZE         database size quota: beyond it writes are refused with 507 Insufficient storage,
                              while reads and deletes still work (etcd's own NOSPACE alarm answers the same)
  --shutdown-delay DURATION   on SIGTERM, keep serving this long with /readyz at 503 before closing,
                              so load balancers stop sending requests first (default 0)
${SERVER_TLS_HELP}
${ETCD_SECURITY_HELP}
${CONNECTION_HELP}
${LOG_HELP}

Extension: /v1.0/{tenant}/event-routes/{id} delivers the tenant's registry events (or a
filtered part) into a queue of the same project, each once, in feed order (see 'tether routes').

GET /healthz (alive), /readyz (store reachable, not shutting down) and
/metrics (Prometheus) are served at the root, without a token.
SIGHUP re-reads --auth-file and the --tls-* files (an invalid file keeps the previous ones).
SIGTERM or SIGINT closes gracefully; a second one exits at once.
`;

const options = {
  listen: { type: 'string' },
  data: { type: 'string' },
  'auth-file': { type: 'string' },
  'event-retention': { type: 'string' },
  limits: { type: 'string' },
  'queue-limits': { type: 'string' },
  store: { type: 'string' },
  'etcd-endpoints': { type: 'string' },
  'etcd-prefix': { type: 'string' },
  'etcd-timeout': { type: 'string' },
  'etcd-transport': { type: 'string' },
  'etcd-max-txn-ops': { type: 'string' },
  'shutdown-delay': { type: 'string' },
  'max-tenants': { type: 'string' },
  'tenant-quota-bytes': { type: 'string' },
  'max-db-bytes': { type: 'string' },
  ...serverTlsOptions,
  ...etcdSecurityOptions,
  ...connectionOptions,
  ...logOptions,
  help: { type: 'boolean', short: 'h' },
} as const;

/** `host:port` or `[v6]:port`; port 0..65535. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--listen must be HOST:PORT, got "${text}"`, 'registry');
  return { host: (m[1] ?? m[2]) as string, port };
}

/** `service=1000,configuration_value=5000,session=200` -> limits; unknown names and non-integers are usage errors. */
export function parseLimits(text: string | undefined): Partial<ResourceLimits> | undefined {
  if (text === undefined) return undefined;
  const out: Partial<ResourceLimits> = {};
  for (const part of text.split(',')) {
    const m = /^(service|configuration_value|session)=(\d+)$/.exec(part.trim());
    if (!m) throw new UsageError(`--limits: "${part}" is not NAME=COUNT (names: service, configuration_value, session)`, 'registry');
    out[m[1] as keyof ResourceLimits] = Number(m[2]);
  }
  return out;
}

function positiveDuration(flag: string, text: string | undefined, zeroAllowed = false): number | undefined {
  if (text === undefined) return undefined;
  try {
    const ms = parseDuration(text);
    if (ms < 0 || (ms === 0 && !zeroAllowed)) throw new UsageError(`--${flag} must be more than zero`, 'registry');
    return ms;
  } catch (err) {
    if (err instanceof TetherError && err.code === 'duration.invalid') throw new UsageError(`--${flag}: ${err.message}`, 'registry');
    throw err;
  }
}

type StoreChoice =
  | { engine: 'sqlite'; data: string }
  | { engine: 'etcd'; endpoints: string[]; prefix?: string; timeoutMs?: number; maxTxnOps?: number; transport?: 'grpc' | 'gateway' };

/** The storage flags, checked together: each engine's own flags, and none of the other's. */
export function parseStoreFlags(values: {
  store?: string | undefined;
  data?: string | undefined;
  'etcd-endpoints'?: string | undefined;
  'etcd-prefix'?: string | undefined;
  'etcd-timeout'?: string | undefined;
  'etcd-max-txn-ops'?: string | undefined;
  'etcd-transport'?: string | undefined;
}): StoreChoice {
  const engine = values.store ?? 'sqlite';
  if (engine === 'sqlite') {
    const etcdFlags = [values['etcd-endpoints'], values['etcd-prefix'], values['etcd-timeout'], values['etcd-max-txn-ops'], values['etcd-transport']];
    if (etcdFlags.some((f) => f !== undefined)) {
      throw new UsageError('--etcd-* flags need --store etcd', 'registry');
    }
    if (values.data === undefined) throw new UsageError('--data DIR is required', 'registry');
    return { engine, data: values.data };
  }
  if (engine !== 'etcd') throw new UsageError(`--store must be sqlite or etcd, got "${engine}"`, 'registry');
  if (values.data !== undefined) throw new UsageError('--data is for --store sqlite; etcd keeps the data', 'registry');
  const endpoints = (values['etcd-endpoints'] ?? '').split(',').map((e) => e.trim()).filter((e) => e !== '');
  if (endpoints.length === 0) throw new UsageError('--store etcd needs --etcd-endpoints URL[,URL...]', 'registry');
  for (const e of endpoints) {
    // Never echoed: user:password would end up in logs, and the etcd client sends no credentials.
    const creds = URL.canParse(e) && (new URL(e).username !== '' || new URL(e).password !== '');
    if (creds) throw new UsageError(`--etcd-endpoints: ${new URL(e).host} carries user:password; use --etcd-user and --etcd-password-file`, 'registry');
    if (!/^https?:\/\/[^/]+\/?$/.test(e)) throw new UsageError(`--etcd-endpoints: "${e}" is not http(s)://HOST:PORT`, 'registry');
  }
  const timeoutMs = positiveDuration('etcd-timeout', values['etcd-timeout']);
  const ops = values['etcd-max-txn-ops'];
  if (ops !== undefined && !/^[1-9]\d{0,8}$/.test(ops)) throw new UsageError(`--etcd-max-txn-ops must be a positive integer, got "${ops}"`, 'registry');
  const transport = values['etcd-transport'];
  if (transport !== undefined && transport !== 'grpc' && transport !== 'gateway') throw new UsageError(`--etcd-transport must be grpc or gateway, got "${transport}"`, 'registry');
  return {
    engine,
    endpoints,
    ...(ops !== undefined ? { maxTxnOps: Number(ops) } : {}),
    ...(values['etcd-prefix'] !== undefined ? { prefix: values['etcd-prefix'] } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(transport !== undefined ? { transport } : {}),
  };
}

/** --max-tenants, --tenant-quota-bytes, --max-db-bytes; bad values are usage errors. */
export function parseQuotaFlags(values: { 'max-tenants'?: string | undefined; 'tenant-quota-bytes'?: string | undefined; 'max-db-bytes'?: string | undefined }): QuotaFlags {
  const tenants = values['max-tenants'];
  if (tenants !== undefined && !/^[1-9]\d{0,8}$/.test(tenants)) throw new UsageError(`--max-tenants must be a positive integer, got "${tenants}"`, 'registry');
  try {
    return {
      maxTenants: tenants === undefined ? undefined : Number(tenants),
      tenantQuotaBytes: parseBytes('tenant-quota-bytes', values['tenant-quota-bytes']),
      maxDbBytes: parseBytes('max-db-bytes', values['max-db-bytes']),
    };
  } catch (err) {
    if (err instanceof TetherError && err.code === 'quota.invalid') throw new UsageError(err.message, 'registry');
    throw err;
  }
}

async function openStore(choice: StoreChoice, logger: Logger, security: EtcdSecurity = {}): Promise<Store> {
  if (choice.engine === 'sqlite') {
    await mkdir(choice.data, { recursive: true });
    return openSqliteStore({ path: join(choice.data, 'registry.db') });
  }
  const { openEtcdStore } = await import('../../store/etcd.js');
  const { engine: _, ...opts } = choice;
  return openEtcdStore({ ...opts, ...security, logger });
}

export const registryCommand: Command = {
  name: 'registry',
  summary: 'run the server: Service Registry v1.0 and Cloud Queues v1 (SQLite or etcd)',
  help,
  options,
  async run(argv) {
    const { values, positionals: pos } = parse('registry', argv, options);
    if (values.help) return (out(help), 0);
    positionals('registry', pos, []);
    const choice = parseStoreFlags(values);
    const etcdSecurity = parseEtcdSecurity(values, choice.engine);
    const tlsFiles = parseServerTlsFlags(values, 'registry');
    const { host, port } = parseListen(values.listen ?? '127.0.0.1:8470');
    const eventRetentionMs = positiveDuration('event-retention', values['event-retention']);
    const shutdownDelayMs = positiveDuration('shutdown-delay', values['shutdown-delay'], true) ?? 0;
    const connections = parseConnectionFlags(values);
    const logger = await openLogger(logSettings('registry', values));
    const log = logger.child({ component: 'cli' });
    // SIGHUP re-reads --auth-file (token rotation) and the --tls-* files (certificate renewal), and reopens the --access-log file (logrotate).
    let reloadAuth = (): void => {};
    let reloadTls = (): void => {};
    let reopenAccessLog = (): void => {};
    const logFile = connections.accessLog !== undefined && connections.accessLog !== 'stderr';
    const nothing = (): void => log.info('SIGHUP: no --auth-file, --tls-cert or --access-log file, nothing to reload');
    const signal = firstSignal(() => (values['auth-file'] === undefined && tlsFiles === undefined && !logFile ? nothing() : (reloadAuth(), reloadTls(), reopenAccessLog())));

    // Opened in order, closed in reverse; a failure half-way closes what is open.
    const authFile = values['auth-file'] !== undefined ? await reloadableAuthFile(values['auth-file'], log) : undefined;
    if (authFile) reloadAuth = () => void authFile.reload();
    const auth = authFile?.table;
    const tls = tlsFiles !== undefined ? await reloadableServerTls(tlsFiles, log) : undefined;
    const metrics = new ServerMetrics(undefined, { processMetrics: true, version: packageVersion() });
    const quotaFlags = parseQuotaFlags(values);
    const engine = await openStore(choice, logger, etcdSecurity);
    // Quotas sit over the timed store: a refusal is an answer, not a store error; the engine reports its size.
    const quota = await openQuotaStore(instrumentStore(engine, metrics), quotaFlags, logger, engine);
    registerQuotaMetrics(metrics.registry, quota);
    const store = quota;
    let registry: RegistryService | undefined;
    let queues: QueueService | undefined;
    let server: ReturnType<typeof createRegistryServer> | undefined;
    let deliverer: RouteDeliverer | undefined;
    let accessLog: AccessLog | undefined;
    try {
      const limits = parseLimits(values.limits);
      registry = await RegistryService.open(store, {
        logger,
        ...(eventRetentionMs !== undefined ? { eventRetentionMs } : {}),
        ...(limits !== undefined ? { limits } : {}),
      });
      const queueLimits = parseQueueLimits(values['queue-limits']);
      // The server reads the service's limits: one copy for the domain and the wire's body caps.
      queues = await createQueueService(store, { logger, ...(queueLimits !== undefined ? { limits: queueLimits } : {}) });
      // Event routes (issue 16): every server runs every stored route; the store's compares keep delivery exactly-once.
      deliverer = await RouteDeliverer.start(store, registry, queues, { logger, metricsRegistry: metrics.registry });
      accessLog = connections.accessLog === undefined ? undefined : openAccessLog(connections.accessLog, log);
      if (accessLog !== undefined) reopenAccessLog = accessLog.reopen;
      server = createRegistryServer(registry, {
        logger,
        metrics,
        queues,
        routes: new RouteStore(store, queues, queues.limits.maxMessageTtl),
        readiness: async () => void (await store.revision()),
        shutdownDelayMs,
        connections: connections.limits,
        ...(accessLog !== undefined ? { accessLog } : {}),
        ...(auth !== undefined ? { auth } : {}),
        ...(tls !== undefined ? { tls: tls.options } : {}),
      });
      const tlsServer = server.server;
      if (tls !== undefined && tlsServer instanceof TlsServer) reloadTls = () => void tls.reload(tlsServer);
      const { url } = await server.listen(port, host);
      if (auth === undefined) log.warn('no --auth-file: the registry accepts every request, with or without a token');
      log.info({ url, ...(choice.engine === 'sqlite' ? { data: choice.data } : { etcd: choice.endpoints }) }, 'registry listening');
      const sig = await signal;
      log.info({ signal: sig, shutdownDelayMs }, 'shutting down');
    } finally {
      await server?.close();
      await accessLog?.close();
      await deliverer?.close();
      await queues?.close();
      await registry?.close();
      await store.close();
    }
    log.info('registry closed');
    return 0;
  },
};
