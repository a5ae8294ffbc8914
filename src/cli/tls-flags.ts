import { readFileSync } from 'node:fs';
import type { TlsOptions } from '../lib/http-pool.js';
import type { ServerTlsFiles } from '../server/tls.js';
import type { EtcdAuth } from '../store/etcd-gateway.js';
import { UsageError } from './args.js';

/**
 * The TLS (and etcd auth) flags of the command line, in one place: the
 * server's certificate, the client commands' CA and client certificate, and
 * the etcd store's. Files are named, never given inline, and their contents
 * never reach a message (a key or password is a secret): only paths do.
 */

export const SERVER_TLS_HELP = `  --tls-cert FILE             serve HTTPS with this certificate (PEM, chain after the leaf); needs --tls-key.
                              SIGHUP re-reads --tls-cert, --tls-key and --tls-client-ca (new connections get them)
  --tls-key FILE              the certificate's private key (PEM)
  --tls-client-ca FILE        require a client certificate signed by this CA (PEM) on every connection`;

export const serverTlsOptions = {
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-client-ca': { type: 'string' },
} as const;

/** `--tls-*` of a server: none, or a certificate with its key (and maybe a client CA); else a usage error. */
export function parseServerTlsFlags(
  values: { 'tls-cert'?: string | undefined; 'tls-key'?: string | undefined; 'tls-client-ca'?: string | undefined },
  command: string,
): ServerTlsFiles | undefined {
  const certFile = values['tls-cert'];
  const keyFile = values['tls-key'];
  const clientCaFile = values['tls-client-ca'];
  if (certFile === undefined && keyFile === undefined) {
    if (clientCaFile !== undefined) throw new UsageError('--tls-client-ca needs --tls-cert and --tls-key', command);
    return undefined;
  }
  if (certFile === undefined || keyFile === undefined) throw new UsageError('--tls-cert and --tls-key go together', command);
  return { certFile, keyFile, ...(clientCaFile !== undefined ? { clientCaFile } : {}) };
}

export const ETCD_SECURITY_HELP = `  --etcd-cacert FILE          CA (PEM) that signed etcd's certificate, for https:// endpoints
  --etcd-cert FILE            client certificate (PEM) for etcd's --client-cert-auth; needs --etcd-key
  --etcd-key FILE             the client certificate's key (PEM)
  --etcd-user NAME            etcd user, when etcd's auth is enabled (env TETHER_ETCD_USER)
  --etcd-password-file FILE   that user's password (trailing newline ignored; env TETHER_ETCD_PASSWORD instead)`;

export const etcdSecurityOptions = {
  'etcd-cacert': { type: 'string' },
  'etcd-cert': { type: 'string' },
  'etcd-key': { type: 'string' },
  'etcd-user': { type: 'string' },
  'etcd-password-file': { type: 'string' },
} as const;

export interface EtcdSecurity {
  tls?: TlsOptions;
  auth?: EtcdAuth;
}

type EtcdSecurityValues = { [K in keyof typeof etcdSecurityOptions]?: string | undefined };

/** The etcd store's TLS and auth from flags and env; a usage error for half a pair, or with another engine. */
export function parseEtcdSecurity(values: EtcdSecurityValues, engine: string, env: NodeJS.ProcessEnv = process.env): EtcdSecurity {
  const given = Object.keys(etcdSecurityOptions).filter((k) => values[k as keyof EtcdSecurityValues] !== undefined);
  if (engine !== 'etcd') {
    if (given.length > 0) throw new UsageError(`--${given[0]} needs --store etcd`, 'registry');
    return {};
  }
  const tls = clientTls(values['etcd-cacert'], values['etcd-cert'], values['etcd-key'], undefined, 'registry', '--etcd-');
  const user = values['etcd-user'] ?? env.TETHER_ETCD_USER;
  const passwordFile = values['etcd-password-file'];
  const password = passwordFile !== undefined ? readFlagFile(passwordFile, '--etcd-password-file', 'registry').toString('utf8').replace(/\r?\n$/, '') : env.TETHER_ETCD_PASSWORD;
  if ((user === undefined || user === '') !== (password === undefined)) {
    throw new UsageError('etcd auth needs both a user (--etcd-user) and a password (--etcd-password-file or TETHER_ETCD_PASSWORD)', 'registry');
  }
  return { ...(tls !== undefined ? { tls } : {}), ...(user !== undefined && user !== '' && password !== undefined ? { auth: { user, password } } : {}) };
}

export const CLIENT_TLS_HELP = `  --cacert FILE       CA (PEM) that verifies an https:// server (env TETHER_CACERT; default: the system's)
  --cert FILE         client certificate (PEM), for a server started with --tls-client-ca (env TETHER_CERT)
  --key FILE          the client certificate's key (PEM; env TETHER_KEY)
  --server-name NAME  the name the server's certificate must carry (env TETHER_SERVER_NAME; default: the URL's host)`;

export const clientTlsOptions = {
  cacert: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'server-name': { type: 'string' },
} as const;

export interface ClientTlsValues {
  cacert?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  'server-name'?: string | undefined;
}

/** The client commands' TLS material: flags first, then TETHER_CACERT/CERT/KEY/SERVER_NAME; undefined when none. */
export function clientTlsFrom(
  values: ClientTlsValues,
  env: NodeJS.ProcessEnv = process.env,
  command?: string,
): TlsOptions | undefined {
  const pick = (flag: string | undefined, name: string): string | undefined => flag ?? (env[name] === '' ? undefined : env[name]);
  return clientTls(
    pick(values.cacert, 'TETHER_CACERT'),
    pick(values.cert, 'TETHER_CERT'),
    pick(values.key, 'TETHER_KEY'),
    pick(values['server-name'], 'TETHER_SERVER_NAME'),
    command,
    '--',
  );
}

function clientTls(caFile: string | undefined, certFile: string | undefined, keyFile: string | undefined, servername: string | undefined, command: string | undefined, flag: string): TlsOptions | undefined {
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError(`${flag}cert and ${flag}key go together`, command);
  if (caFile === undefined && certFile === undefined && servername === undefined) return undefined;
  return {
    ...(caFile !== undefined ? { ca: readFlagFile(caFile, `${flag}cacert`, command) } : {}),
    ...(certFile !== undefined ? { cert: readFlagFile(certFile, `${flag}cert`, command) } : {}),
    ...(keyFile !== undefined ? { key: readFlagFile(keyFile, `${flag}key`, command) } : {}),
    ...(servername !== undefined ? { servername } : {}),
  };
}

/** A file named by a flag; a usage error naming the flag and path (never the contents) when it cannot be read. */
function readFlagFile(path: string, flag: string, command: string | undefined): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${flag} ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, command);
  }
}
