import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { TetherError } from '../lib/errors.js';
import type { TlsOptions } from '../lib/http-pool.js';
import type { Upstream } from '../manifest/model.js';

/**
 * The client TLS material of the manifest's `upstream.tls` (files read at
 * start and again at each reload, so a renewed client certificate is used
 * without a restart), for the registry's pools and the workers' queues
 * client alike. Rejects with `agent.tls_invalid` naming the file (never its
 * contents) when one cannot be read or the set cannot be used (a key that
 * does not match its certificate).
 */
export async function upstreamTls(tls: NonNullable<Upstream['tls']>): Promise<TlsOptions> {
  const read = async (f: string | null, field: string): Promise<Buffer | undefined> => {
    if (f === null) return undefined;
    try {
      return await readFile(f);
    } catch (err) {
      throw new TetherError('agent.tls_invalid', `upstream.tls.${field} ${f} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  const [ca, cert, key] = await Promise.all([read(tls.caFile, 'ca_file'), read(tls.certFile, 'cert_file'), read(tls.keyFile, 'key_file')]);
  try {
    createSecureContext({ ca, cert, key });
  } catch (err) {
    const why = (err as Error).message;
    throw new TetherError('agent.tls_invalid', `upstream.tls files ${[tls.caFile, tls.certFile, tls.keyFile].filter((f) => f !== null).join(', ')} cannot be used: ${why}`);
  }
  return { ca, cert, key, ...(tls.serverName !== null ? { servername: tls.serverName } : {}) };
}
