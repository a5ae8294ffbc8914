import pino, { type Logger } from 'pino';
import { UNMATCHED_ROUTE } from '../observability/server-metrics.js';
import type { ApiRequest, ApiResponse } from './exchange.js';
import { decodeSegment } from './queues/router.js';

/**
 * The access log (issue 19 item 8): one JSON line per exchange, to stderr or
 * a file, apart from the application log so it can be shipped or rotated on
 * its own. A line holds the method, the route template (never the raw path:
 * ids may be configuration keys), the status, the duration, the tenant and
 * the response id; never a header, a query value or a body.
 *
 * `{"time":"2026-12-07T05:20:01.123Z","method":"POST","route":"/v1.0/{tenant}/services/{id}/heartbeat","status":200,"ms":0.8,"tenant":"acme","id":".rh-..."}`
 */

export interface AccessLog {
  /** Writes the line of a finished (or abandoned: 499) exchange. */
  request(req: ApiRequest, res: ApiResponse): void;
  /** A request Node's parser refused or a connection over a cap: no method, no route. */
  refused(status: number, id: string, remoteAddress: string | undefined): void;
  /**
   * Reopens the file by its path (SIGHUP), for logrotate's `create` mode: the
   * lines buffered so far go to the renamed file, the next ones to the new one.
   * Nothing for stderr.
   */
  reopen(): void;
  /** Lines dropped because the file could not be written and the buffer was full. */
  readonly dropped: number;
  /** Flushes and closes the destination. Idempotent. */
  close(): Promise<void>;
}

/** Longest tenant written (an unchecked X-Project-Id may be anything). */
const MAX_TENANT = 128;
/** Bytes held for a file that cannot be written (a full disk) before lines are dropped. */
const MAX_BUFFERED = 16 * 1024 * 1024;

/**
 * Opens the access log on `target`: `stderr`, or a file path (appended to,
 * created if missing). Writes are buffered (sonic-boom, pino's destination)
 * so the log costs no synchronous write per request. A file that cannot be
 * reopened or written (logrotate `create` with an owner we cannot write as, a
 * full disk) never stops the server: `log` gets one warning per failure streak,
 * a failed reopen keeps writing to the old file, and past MAX_BUFFERED bytes
 * waiting for a failing file new lines are dropped and counted.
 */
export function openAccessLog(target: string, log?: Logger): AccessLog {
  const dest =
    target === 'stderr'
      ? pino.destination({ dest: 2, sync: false, maxLength: MAX_BUFFERED })
      : pino.destination({ dest: target, sync: false, mkdir: true, append: true, maxLength: MAX_BUFFERED });
  let closed: Promise<void> | null = null;
  let failing = false;
  let dropped = 0;
  let reopening = false;
  dest.on('error', (err: NodeJS.ErrnoException) => {
    // A reopen leaves a 'ready' listener that closes the old fd once the new one opens; after a failed reopen
    // the old fd stays in use, and a stale listener would close it (or whatever reused its number) later.
    for (const l of dest.listeners('ready')) if (l !== recovered) dest.removeListener('ready', l as () => void);
    // Lines written while the reopen ran wait in the buffer: an empty write sends them to the old file now,
    // not with the next request's line (once per reopen, so a failing write never loops).
    if (reopening && closed === null) setImmediate(() => closed === null && dest.write(''));
    reopening = false;
    if (failing) return;
    failing = true;
    log?.warn({ err: err.message, code: err.code, path: target }, 'access log: cannot write or reopen the file; still writing to the open one, lines past the buffer are dropped');
  });
  dest.on('drop', () => void dropped++);
  const recovered = (): void => {
    reopening = false;
    if (!failing) return;
    failing = false;
    log?.info({ path: target, dropped }, 'access log: writing again');
  };
  dest.on('ready', recovered);
  dest.on('write', recovered);
  const write = (line: Record<string, unknown>): void => {
    if (closed === null) dest.write(`${JSON.stringify(line)}\n`);
  };
  return {
    request: (req, res) => write(requestLine(req, res)),
    refused: (status, id, remoteAddress) => write({ time: new Date().toISOString(), method: null, route: null, status, ms: 0, tenant: null, id, remote: remoteAddress ?? null }),
    reopen: () => {
      if (target === 'stderr' || closed !== null) return;
      reopening = true;
      dest.reopen();
    },
    get dropped() {
      return dropped;
    },
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        // sonic-boom leaves fd 2 open on end(); a file is fsynced and closed.
        dest.once('close', () => resolve());
        dest.once('error', () => resolve());
        dest.end();
      })),
  };
}

/** The line of one exchange. 499: the client left before any reply (as in the metrics). */
export function requestLine(req: ApiRequest, res: ApiResponse): Record<string, unknown> {
  const ms = Math.round((performance.now() - req.startedAt) * 10) / 10;
  return {
    time: new Date().toISOString(),
    method: req.method ?? null,
    route: req.routeTemplate ?? UNMATCHED_ROUTE,
    status: res.headersSent ? res.statusCode : 499,
    ms,
    tenant: tenantOf(req),
    id: req.txnId === '' ? null : req.txnId,
  };
}

/**
 * The tenant of a request: `/v1.0/{tenant}/...` for the registry; for the
 * queues, `/v1/{project_id}/...` or else `X-Project-Id`. Null when none.
 */
export function tenantOf(req: ApiRequest): string | null {
  const path = req.rawPath;
  let tenant: string | null = null;
  if (path.startsWith('/v1.0/')) {
    const end = path.indexOf('/', 6);
    tenant = decodeSegment(path.slice(6, end === -1 ? undefined : end));
  } else if (path === '/v1' || path.startsWith('/v1/')) {
    const seg = path.split('/')[2];
    if (seg !== undefined && seg !== '' && seg !== 'queues' && seg !== 'health') tenant = decodeSegment(seg);
    else {
      const header = req.headers['x-project-id'];
      tenant = typeof header === 'string' ? header : null;
    }
  }
  return tenant === null || tenant === '' ? null : tenant.slice(0, MAX_TENANT);
}
