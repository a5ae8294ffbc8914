import { request } from 'node:https';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { makeTestPki, type TestPki } from './certs.js';

/**
 * Failed TLS handshakes are counted in /metrics by reason and logged
 * (rate-limited): a real `tether registry` with --tls-client-ca, and clients
 * that fail each way.
 */

let pki: TestPki;
let dir: TempDir;
let server: RegistryProc;
let port: number;

beforeAll(async () => {
  pki = await makeTestPki();
  dir = await createTempDir('tls-handshakes');
  server = await startRegistry(join(dir.path, 'data'), 0, ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-client-ca', pki.caFile, '--header-timeout', '1s']);
  port = Number(new URL(server.url).port);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await dir?.remove();
  await pki?.remove();
});

/** One TLS handshake attempt; resolves when the connection ends, however it ends. */
function attempt(opts: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean }): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...opts }, () => socket.write('GET /v1.0/t/services HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.on('data', () => {});
  });
}

/** The handshake-failure counters from /metrics, read with a good client certificate. */
async function failures(): Promise<Record<string, number>> {
  const [ca, cert, key] = await Promise.all([pki.read(pki.caFile), pki.read(pki.clientCert), pki.read(pki.clientKey)]);
  const text = await new Promise<string>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', ca, cert, key, servername: 'localhost' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^tether_tls_handshake_failures_total\{reason="([a-z_]+)"\} (\d+)$/gm)) out[m[1] as string] = Number(m[2]);
  return out;
}

describe('TLS handshake failures in /metrics', () => {
  it('counts each failed handshake by reason, and logs them', async () => {
    const [ca, stranger, strangerKey, otherCa] = await Promise.all([pki.read(pki.caFile), pki.read(pki.strangerCert), pki.read(pki.strangerKey), pki.read(pki.otherCaFile)]);
    await attempt({ ca }); // no client certificate
    // A certificate of another CA, and a client that does not trust the server: both end the connection mid-handshake.
    await attempt({ ca, cert: stranger, key: strangerKey });
    await attempt({ ca: otherCa });
    // Plain HTTP to the https port.
    await new Promise<void>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.on('data', () => {});
    });
    // A client that never sends its hello: the handshake times out (--header-timeout 1s).
    await new Promise<void>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port });
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    });
    await expect
      .poll(failures, { timeout: 15_000, interval: 200 })
      .toEqual({ no_client_cert: 1, reset: 2, protocol: 1, timeout: 1 });
    const logged = await server.waitForLog((r) => r.msg === 'TLS handshakes failed');
    expect(logged).toMatchObject({ level: 'warn' });
    expect(Object.keys(logged.failures as object).length).toBeGreaterThan(0);
  }, 60_000);
});
