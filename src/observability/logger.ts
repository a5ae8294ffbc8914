import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Paths redacted from every log line: tokens and auth headers never reach a log.
 * Components log `req.headers` / `token` fields freely; pino censors them here.
 */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'auth',
  '*.auth',
  'authorization',
  'headers.authorization',
  'headers["x-auth-token"]',
  'req.headers.authorization',
  'req.headers["x-auth-token"]',
  '*.headers.authorization',
  '*.headers["x-auth-token"]',
];

export interface LoggerOptions {
  level?: string;
  /** Where lines go; defaults to stderr (stdout is kept for command output). */
  destination?: DestinationStream;
}

/** The one root logger of a process; components take `logger.child({ component })`. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      level: opts.level ?? process.env.TETHER_LOG_LEVEL ?? 'info',
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    opts.destination ?? pino.destination(2),
  );
}

/** A logger that writes nothing (tests, embedded use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
