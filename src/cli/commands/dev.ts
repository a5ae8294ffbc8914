import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../agent/agent.js';
import { firstSignal } from '../../lifecycle/signals.js';
import { closeHttpProbeAgents } from '../../probes/http.js';
import { formatIssue } from '../../manifest/issues.js';
import { loadManifest } from '../../manifest/load.js';
import { openLogger, type Logger } from '../../observability/logger.js';
import { RegistryService } from '../../registry/service.js';
import { createQueueService } from '../../queues/service.js';
import { isFault } from '../../registry/faults.js';
import { RouteDeliverer } from '../../routes/deliverer.js';
import { RouteStore } from '../../routes/route-store.js';
import { createRegistryServer } from '../../server/index.js';
import { openSqliteStore } from '../../store/sqlite.js';
import { out, parse, positionals, UsageError, type Command } from '../command.js';
import { devHints, parseSeed } from '../dev-hints.js';
import { logOptions, logSettings } from '../log-flags.js';
import { reportStartFailure } from './agent.js';
import { parseListen } from './registry.js';
import { reloadableServerTls, type ReloadableTls } from '../../server/tls.js';
import { parseServerTlsFlags, SERVER_TLS_HELP, serverTlsOptions } from '../tls-flags.js';
import { Server as TlsServer } from 'node:tls';

const help = `Usage: tether dev --config PATH [--listen HOST:PORT] [--data DIR] [--seed KEY=VALUE]... [--log-level LEVEL] [--log-format json|pretty]

Runs an embedded registry (SQLite) and the agent in one process: the agent
talks to the registry in-process, and the registry also listens on HTTP so
the CLI and other clients can use it (Cloud Queues v1 too, under /v1, and
event routes: \`tether routes\`). The manifest's workers use its queues.

  --listen HOST:PORT  registry address (default: the host:port of the manifest's
                      upstream.url, else 127.0.0.1:8470)
  --data DIR          registry data (default: a temporary directory, removed at exit)
  --seed KEY=VALUE    set a configuration value at start unless the key already has
                      one (repeatable): demo data that a restart does not overwrite
  --log-level LEVEL   trace, debug, info, warn, error (default info, env TETHER_LOG_LEVEL)
  --log-format F      pretty (default here, even when stderr is not a terminal) or
                      json (env TETHER_LOG_FORMAT)
${SERVER_TLS_HELP}
                              (SIGHUP here also re-reads the manifest)

The tenant is the manifest's (upstream.url .../v1.0/TENANT), else "default".
`;

const options = {
  config: { type: 'string', short: 'c' },
  listen: { type: 'string' },
  data: { type: 'string' },
  seed: { type: 'string', multiple: true },
  ...serverTlsOptions,
  ...logOptions,
  help: { type: 'boolean', short: 'h' },
} as const;

export const devCommand: Command = {
  name: 'dev',
  summary: 'run a registry and the agent in one process',
  help,
  options,
  async run(argv) {
    const { values, positionals: pos } = parse('dev', argv, options);
    if (values.help) return (out(help), 0);
    positionals('dev', pos, []);
    if (values.config === undefined) throw new UsageError('--config PATH is required', 'dev');
    const seeds = (values.seed ?? []).map(parseSeed);
    // Pretty by default: dev is for a person at a terminal, even behind `npm start` or a pipe.
    const logger = await openLogger(logSettings('dev', values, true));
    const log = logger.child({ component: 'dev' });
    let agent: Agent | undefined;
    let server: ReturnType<typeof createRegistryServer> | undefined;
    // Listening from the start: a Ctrl-C during start-up must not kill the process before it deregisters.
    let tls: ReloadableTls | undefined;
    const signal = firstSignal(() => {
      void agent?.reload();
      if (tls !== undefined && server?.server instanceof TlsServer) void tls.reload(server.server);
    });
    const tlsFiles = parseServerTlsFlags(values, 'dev');
    const { manifest, issues } = await loadManifest(values.config);
    // Refused before anything starts: with no manifest there is no registry address or tenant to
    // fall back on honestly, and a seed against a default tenant would fail with a confusing fault.
    if (!manifest) {
      process.stderr.write(`${issues.map(formatIssue).join('\n')}\nerror: the manifest is invalid; nothing was started\n`);
      return 1;
    }
    const endpoint = manifest?.upstream?.endpoints[0];
    const listen = parseListen(values.listen ?? (endpoint ? new URL(endpoint.base).host : '127.0.0.1:8470'));
    const tenant = endpoint?.tenant ?? 'default';
    tls = tlsFiles !== undefined ? await reloadableServerTls(tlsFiles, log) : undefined;
    const data = values.data ?? (await mkdtemp(join(tmpdir(), 'tether-dev-')));
    await mkdir(data, { recursive: true });

    const store = await openSqliteStore({ path: join(data, 'registry.db') });
    const registry = await RegistryService.open(store, { logger });
    const queues = await createQueueService(store, { logger });
    // Event routes run here too, so a manifest's workers get registry events as they would from `tether registry`.
    const deliverer = await RouteDeliverer.start(store, registry, queues, { logger });
    const routes = new RouteStore(store, queues, queues.limits.maxMessageTtl);
    server = createRegistryServer(registry, {
      logger,
      queues,
      routes,
      readiness: async () => void (await store.revision()),
      ...(tls !== undefined ? { tls: tls.options } : {}),
    });
    try {
      const { url } = await server.listen(listen.port, listen.host);
      const base = `${url}/v1.0/${tenant}`;
      log.info({ url: base, data }, 'embedded registry listening');
      await seed(registry, tenant, seeds, log);
      try {
        // Workers and queue actions use the embedded queues in-process (the tenant's project), like the registry.
        agent = await Agent.start({ configPath: values.config, logger, upstream: { registry, tenant, url: base }, queues: { queues, project: tenant } });
      } catch (err) {
        return reportStartFailure(err);
      }
      if (manifest) for (const hint of devHints(manifest, base, agent.apiUrl, process.cwd())) log.info(`try: ${hint}`);
      log.info('Ctrl-C deregisters every service and exits');
      const sig = await signal;
      log.info({ signal: sig }, 'shutting down: deregistering services');
    } finally {
      await agent?.close();
      await closeHttpProbeAgents();
      await server.close();
      await deliverer.close();
      await queues.close();
      await registry.close();
      await store.close();
      if (values.data === undefined) await rm(data, { recursive: true, force: true });
    }
    return 0;
  },
};

/** Sets each seed's key unless it already has a value (a restart keeps what the user set). */
async function seed(registry: RegistryService, tenant: string, seeds: Array<[string, string]>, log: Logger): Promise<void> {
  for (const [key, value] of seeds) {
    try {
      await registry.getConfig(tenant, key);
      continue;
    } catch (err) {
      if (!isFault(err, 'notFoundError')) throw err;
    }
    await registry.setConfig(tenant, key, { value });
    // The key only: a seeded value may be a secret (a key under a secret prefix), and logs never carry values.
    log.info({ key }, 'seeded a configuration value');
  }
}
