import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';
import { TetherError } from '../lib/errors.js';
import type { Logger } from '../observability/logger.js';

/**
 * The server's TLS material from files (`--tls-cert`, `--tls-key`,
 * `--tls-client-ca`), read at start and again on SIGHUP, so a renewed
 * certificate (certbot, cert-manager) is served without a restart: new
 * connections get it, open ones keep theirs (tls.Server#setSecureContext).
 *
 * Errors: `tls.invalid` naming the file that cannot be read or used. The
 * message never carries the files' contents (a key is a secret), only the
 * path and OpenSSL's reason.
 */
export interface ServerTlsFiles {
  certFile: string;
  keyFile: string;
  /** Clients must present a certificate signed by this CA (mutual TLS); absent: none is asked for. */
  clientCaFile?: string | undefined;
}

/** What https.createServer and setSecureContext take. */
export interface ServerTlsOptions extends SecureContextOptions {
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

/** Reads and checks the files; rejects with `tls.invalid` (the path and why, never the contents). */
export async function loadServerTls(files: ServerTlsFiles): Promise<ServerTlsOptions> {
  const [cert, key, ca] = await Promise.all([
    readPem(files.certFile, '--tls-cert'),
    readPem(files.keyFile, '--tls-key'),
    files.clientCaFile === undefined ? undefined : readPem(files.clientCaFile, '--tls-client-ca'),
  ]);
  const mutual = ca !== undefined;
  const options: ServerTlsOptions = { cert, key, ...(mutual ? { ca } : {}), requestCert: mutual, rejectUnauthorized: mutual };
  try {
    // Fails here on a key that does not match the certificate, or on PEM that is not one:
    // better at start (or a rejected reload) than at every handshake.
    createSecureContext(options);
  } catch (err) {
    throw new TetherError('tls.invalid', `TLS files ${files.certFile} and ${files.keyFile}${mutual ? ` (client CA ${files.clientCaFile})` : ''} cannot be used: ${reason(err)}`);
  }
  return options;
}

export interface ReloadableTls {
  /** The options of the last good load: for https.createServer. */
  readonly options: ServerTlsOptions;
  /**
   * Re-reads the files and, when they are good, hands them to `server` for
   * new connections. Resolves false (logged) when they are not: the server
   * keeps the previous certificate, so a half-written renewal never breaks
   * every handshake. Never rejects.
   */
  reload(server: TlsServer): Promise<boolean>;
}

/** Loads the files (rejecting like `loadServerTls`) and returns them with a reload for SIGHUP. */
export async function reloadableServerTls(files: ServerTlsFiles, log: Logger): Promise<ReloadableTls> {
  let current = await loadServerTls(files);
  return {
    get options() {
      return current;
    },
    async reload(server) {
      try {
        const next = await loadServerTls(files);
        server.setSecureContext(next);
        current = next;
      } catch (err) {
        log.error({ cert: files.certFile, error: reason(err) }, 'TLS files rejected; the previous certificate stays');
        return false;
      }
      log.info({ cert: files.certFile, clientCa: files.clientCaFile ?? null }, 'TLS certificate reloaded');
      return true;
    },
  };
}

async function readPem(path: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new TetherError('tls.invalid', `${flag} ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? reason(err)}`);
  }
}

/** OpenSSL's reason or the error's message: never file contents (Node's TLS errors do not quote them). */
function reason(err: unknown): string {
  if (err instanceof TetherError) return err.message;
  const e = err as { code?: unknown; message?: unknown };
  return typeof e?.message === 'string' ? e.message : String(e?.code ?? err);
}
