import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { TetherError } from '../../errors.js';
import { firstSignal } from '../../lifecycle/signals.js';
import { createLogger } from '../../observability/logger.js';
import { RegistryService } from '../../registry/service.js';
import type { ResourceLimits } from '../../registry/types.js';
import { createRegistryServer, loadAuthFile } from '../../server/index.js';
import { openSqliteStore } from '../../store/sqlite.js';
import { parseDuration } from '../../duration.js';
import { out, parse, positionals, UsageError, type Command } from '../command.js';

const help = `Usage: tether registry --data DIR [options]

Runs a Service Registry v1.0 server over a SQLite database in DIR.

Options:
  --listen HOST:PORT          address to listen on (default 127.0.0.1:8470; port 0 picks a free one)
  --data DIR                  data directory, created if missing (holds registry.db)
  --auth-file FILE            YAML token list (tokens: [{token, tenant}]); without it anyone may call the API
  --event-retention DURATION  how long events are kept: 500ms, 10s, 2m, 1h, 30d or seconds (default 30d)
  --limits LIST               resource limits for every tenant, e.g. service=1000,configuration_value=5000,session=200
                              (defaults: service=200, configuration_value=1000, session=100)
  --log-level LEVEL           trace, debug, info, warn, error (default info, env TETHER_LOG_LEVEL)

SIGTERM or SIGINT closes gracefully; a second one exits at once.
`;

const options = {
  listen: { type: 'string' },
  data: { type: 'string' },
  'auth-file': { type: 'string' },
  'event-retention': { type: 'string' },
  limits: { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

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

function retention(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  try {
    const ms = parseDuration(text);
    if (ms <= 0) throw new UsageError('--event-retention must be more than zero', 'registry');
    return ms;
  } catch (err) {
    if (err instanceof TetherError && err.code === 'duration.invalid') throw new UsageError(`--event-retention: ${err.message}`, 'registry');
    throw err;
  }
}

export const registryCommand: Command = {
  name: 'registry',
  summary: 'run a registry server (SQLite)',
  help,
  async run(argv) {
    const { values, positionals: pos } = parse('registry', argv, options);
    if (values.help) return (out(help), 0);
    positionals('registry', pos, []);
    if (values.data === undefined) throw new UsageError('--data DIR is required', 'registry');
    const { host, port } = parseListen(values.listen ?? '127.0.0.1:8470');
    const eventRetentionMs = retention(values['event-retention']);
    const level = values['log-level'];
    if (level !== undefined && !LEVELS.includes(level)) throw new UsageError(`--log-level must be one of ${LEVELS.join(', ')}`, 'registry');
    const logger = createLogger({ level });
    const log = logger.child({ component: 'cli' });
    const signal = firstSignal();

    // Opened in order, closed in reverse; a failure half-way closes what is open.
    const auth = values['auth-file'] !== undefined ? await loadAuthFile(values['auth-file']) : undefined;
    await mkdir(values.data, { recursive: true });
    const store = await openSqliteStore({ path: join(values.data, 'registry.db') });
    let registry: RegistryService | undefined;
    let server: ReturnType<typeof createRegistryServer> | undefined;
    try {
      const limits = parseLimits(values.limits);
      registry = await RegistryService.open(store, {
        logger,
        ...(eventRetentionMs !== undefined ? { eventRetentionMs } : {}),
        ...(limits !== undefined ? { limits } : {}),
      });
      server = createRegistryServer(registry, { logger, ...(auth !== undefined ? { auth } : {}) });
      const { url } = await server.listen(port, host);
      if (auth === undefined) log.warn('no --auth-file: the registry accepts every request, with or without a token');
      log.info({ url, data: values.data }, 'registry listening');
      const sig = await signal;
      log.info({ signal: sig }, 'shutting down');
    } finally {
      await server?.close();
      await registry?.close();
      await store.close();
    }
    log.info('registry closed');
    return 0;
  },
};
