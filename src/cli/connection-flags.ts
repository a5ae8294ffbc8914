import { TetherError } from '../lib/errors.js';
import { parseDuration } from '../lib/duration.js';
import type { ConnectionLimits } from '../server/connections.js';
import { UsageError } from './args.js';

/**
 * The server's connection flags (issue 19 items 3 and 8): caps, slow-client
 * timeouts and the access log. Pure: checked before anything is opened.
 */
export const connectionOptions = {
  'max-connections': { type: 'string' },
  'max-connections-per-client': { type: 'string' },
  'header-timeout': { type: 'string' },
  'request-timeout': { type: 'string' },
  'body-idle-timeout': { type: 'string' },
  'access-log': { type: 'string' },
} as const;

export const CONNECTION_HELP = `  --max-connections N         open connections in total; beyond it a new one is closed at once
                              (default: the open-files limit, ulimit -n, less 128)
  --max-connections-per-client N  open connections per client address; beyond it a new one gets
                              429 and is closed (default 200, as Consul)
  --header-timeout DURATION   a request head (or a new connection's first request) must arrive
                              within this, else 408 and the connection closes (default 10s)
  --request-timeout DURATION  a whole request, head and body, must arrive within this (default 30s);
                              long-polls wait after their request arrived and are never cut
  --body-idle-timeout DURATION  longest silence while a body arrives (default 10s; 0 turns it off)
  --access-log stderr|FILE    one JSON line per request: method, route template, status, ms,
                              tenant, response id (never a token, a query value or a body)`;

export interface ConnectionSettings {
  limits: Partial<ConnectionLimits>;
  /** `stderr` or a file path; undefined: no access log. */
  accessLog: string | undefined;
}

type Values = { [K in keyof typeof connectionOptions]?: string | undefined };

function count(command: string, flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-9]\d{0,8}$/.test(text)) throw new UsageError(`--${flag} must be a positive integer, got "${text}"`, command);
  return Number(text);
}

function duration(command: string, flag: string, text: string | undefined, zeroAllowed: boolean): number | undefined {
  if (text === undefined) return undefined;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    if (err instanceof TetherError && err.code === 'duration.invalid') throw new UsageError(`--${flag}: ${err.message}`, command);
    throw err;
  }
  if (ms < 0 || (ms === 0 && !zeroAllowed)) throw new UsageError(`--${flag} must be more than zero`, command);
  return ms;
}

/** The flags checked together; every issue is a usage error naming its flag. */
export function parseConnectionFlags(values: Values, command = 'registry'): ConnectionSettings {
  const limits: Partial<ConnectionLimits> = {};
  const set = <K extends keyof ConnectionLimits>(key: K, v: number | undefined): void => {
    if (v !== undefined) limits[key] = v;
  };
  set('maxConnections', count(command, 'max-connections', values['max-connections']));
  set('maxPerClient', count(command, 'max-connections-per-client', values['max-connections-per-client']));
  set('headersTimeoutMs', duration(command, 'header-timeout', values['header-timeout'], false));
  set('requestTimeoutMs', duration(command, 'request-timeout', values['request-timeout'], false));
  set('bodyIdleTimeoutMs', duration(command, 'body-idle-timeout', values['body-idle-timeout'], true));
  const head = limits.headersTimeoutMs;
  const whole = limits.requestTimeoutMs;
  // Node refuses a requestTimeout below headersTimeout: said here, with the flags' names.
  if (head !== undefined && whole !== undefined && whole < head) throw new UsageError('--request-timeout must be at least --header-timeout', command);
  const accessLog = values['access-log'];
  if (accessLog === '') throw new UsageError('--access-log needs stderr or a file path', command);
  return { limits, accessLog };
}
