import { pino, type Logger, type DestinationStream, type LoggerOptions as PinoOptions } from 'pino';

export type { Logger };

/**
 * Paths redacted from every log line: tokens and auth headers never reach a log.
 * Components log `req.headers` / `token` fields freely; pino censors them here,
 * before a line is serialized, so pretty lines are redacted alike.
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

/** `json`: one JSON object a line (for journald, Docker, Kubernetes); `pretty`: lines for a person. */
export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  level?: string | undefined;
  /** Where lines go; defaults to stderr (stdout is kept for command output). */
  destination?: DestinationStream;
}

function pinoOptions(level: string | undefined): PinoOptions {
  return {
    level: level ?? process.env.TETHER_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    // "level":"warn", not 40: readable as it is, and what log shippers match on.
    formatters: { level: (label) => ({ level: label }) },
  };
}

/** The one root logger of a process, writing JSON lines; components take `logger.child({ component })`. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(pinoOptions(opts.level), opts.destination ?? pino.destination(2));
}

/**
 * The root logger in `format`: JSON lines, or pretty lines on stderr
 * (coloured when stderr is a terminal). pino-pretty is imported only for
 * pretty output, and writes synchronously on this thread: no transport
 * worker, and the last lines before an exit are not lost.
 */
export async function openLogger(opts: { level?: string | undefined; format: LogFormat }): Promise<Logger> {
  if (opts.format === 'json') return createLogger({ level: opts.level });
  const { default: pretty } = await import('pino-pretty');
  const destination = pretty({
    sync: true,
    destination: 2,
    colorize: process.stderr.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    singleLine: true,
  });
  return pino(pinoOptions(opts.level), destination);
}

/** A logger that writes nothing (tests, embedded use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
