import type { LogFormat } from '../observability/logger.js';
import { UsageError } from './args.js';

/**
 * The log flags every long-running command takes. Pure, and apart from the
 * logger module, so that `tether agent` checks them before loading pino.
 */
export const logOptions = {
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
} as const;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const LOG_HELP = `  --log-level LEVEL           trace, debug, info, warn, error (default info, env TETHER_LOG_LEVEL)
  --log-format json|pretty    JSON lines, or lines for a person (env TETHER_LOG_FORMAT; default:
                              pretty when stderr is a terminal, else json)`;

export interface LogSettings {
  level: string | undefined;
  format: LogFormat;
}

/**
 * `--log-level` and `--log-format`, checked (a bad value is a usage error).
 * The format is the flag, else `TETHER_LOG_FORMAT`, else pretty when
 * `prettyByDefault` (a terminal on stderr, or `tether dev`), JSON otherwise.
 */
export function logSettings(
  command: string,
  values: { 'log-level'?: string | undefined; 'log-format'?: string | undefined },
  prettyByDefault: boolean = process.stderr.isTTY === true,
  env: NodeJS.ProcessEnv = process.env,
): LogSettings {
  const level = values['log-level'];
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`, command);
  }
  const envFormat = env.TETHER_LOG_FORMAT === '' ? undefined : env.TETHER_LOG_FORMAT;
  const asked = values['log-format'] ?? envFormat;
  if (asked === undefined) return { level, format: prettyByDefault ? 'pretty' : 'json' };
  if (asked !== 'json' && asked !== 'pretty') {
    const from = values['log-format'] !== undefined ? '--log-format' : 'TETHER_LOG_FORMAT';
    throw new UsageError(`${from} must be json or pretty, got "${asked}"`, command);
  }
  return { level, format: asked };
}
