import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/client.js';
import { HttpQueues } from '../../src/client/queues.js';
import type { TetherError } from '../../src/lib/errors.js';
import type { TlsOptions } from '../../src/lib/http-pool.js';
import { spawnTether, startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { makeTestPki, type TestPki } from './certs.js';

/**
 * `tether registry --tls-cert/--tls-key[/--tls-client-ca]` as a real process,
 * called by the client library and by the CLI: HTTPS works with the right CA,
 * is refused with a wrong one (or none), a missing or foreign client
 * certificate is refused under --tls-client-ca, and SIGHUP serves a renewed
 * certificate to new connections.
 */

let pki: TestPki;
let dir: TempDir;
let plain: RegistryProc; // --tls-cert/--tls-key from copies in `dir` (renewed in place by the reload test)
let mutual: RegistryProc; // plus --tls-client-ca
const procs: RegistryProc[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
  dir = await createTempDir('tls-server');
  await copyFile(pki.serverCert, join(dir.path, 'live.pem'));
  await copyFile(pki.serverKey, join(dir.path, 'live.key'));
  [plain, mutual] = await Promise.all([
    startRegistry(join(dir.path, 'data1'), 0, ['--tls-cert', join(dir.path, 'live.pem'), '--tls-key', join(dir.path, 'live.key')]),
    startRegistry(join(dir.path, 'data2'), 0, ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-client-ca', pki.caFile]),
  ]);
  procs.push(plain, mutual);
}, 60_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await dir?.remove();
  await pki?.remove();
});

async function tlsOf(files: { ca?: string; cert?: string; key?: string }, servername?: string): Promise<TlsOptions> {
  return {
    ...(files.ca ? { ca: await pki.read(files.ca) } : {}),
    ...(files.cert ? { cert: await pki.read(files.cert) } : {}),
    ...(files.key ? { key: await pki.read(files.key) } : {}),
    ...(servername ? { servername } : {}),
  };
}

/** A create and a read through a Client; closes it. */
async function roundTrip(base: string, tenant: string, tls: TlsOptions | undefined, id: string): Promise<string[]> {
  const client = new Client({ url: `${base}/v1.0/${tenant}`, tls, timeoutMs: 5000 });
  try {
    await client.services.create({ id, heartbeat_timeout: 30 });
    return (await client.services.listAll()).map((s) => s.id);
  } finally {
    await client.close();
  }
}

async function refusal(p: Promise<unknown>): Promise<TetherError> {
  const err = (await p.then(
    () => null,
    (e: unknown) => e,
  )) as TetherError | null;
  expect(err, 'the call should have been refused').not.toBeNull();
  return err as TetherError;
}

/** Runs the CLI to its end; resolves with its exit code and output. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnTether(args, env);
  const { code } = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.log.join('\n') };
}

/** The subject CN of the certificate a new connection to `port` is served. */
function servedCn(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca }, () => {
      const cn = socket.getPeerCertificate().subject.CN;
      socket.end();
      resolve(Array.isArray(cn) ? cn.join(',') : String(cn));
    });
    socket.once('error', reject);
  });
}

describe('HTTPS server (--tls-cert, --tls-key)', () => {
  it('listens on an https URL and serves the client library with the right CA (registry and queues)', async () => {
    expect(plain.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const tls = await tlsOf({ ca: pki.caFile });
    expect(await roundTrip(plain.url, 't1', tls, 'lib-svc')).toContain('lib-svc');
    const queues = new HttpQueues({ url: plain.url, tls, timeoutMs: 5000 });
    try {
      expect(await queues.createQueue('t1', 'jobs')).toBe(true);
      const ids = await queues.postMessages('t1', 'jobs', queues.clientId, [{ ttl: 60, body: { n: 1 } }]);
      expect(ids).toHaveLength(1);
    } finally {
      await queues.close();
    }
  });

  it('is refused by a client without the CA, or trusting another CA', async () => {
    const none = await refusal(roundTrip(plain.url, 't1', undefined, 'never-1'));
    expect(none.code).toBe('client.unreachable');
    expect(none.message).toMatch(/SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
    const other = await refusal(roundTrip(plain.url, 't1', await tlsOf({ ca: pki.otherCaFile }), 'never-2'));
    expect(other.code).toBe('client.unreachable');
    expect(other.message).toMatch(/SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
    const queues = new HttpQueues({ url: plain.url, tls: await tlsOf({ ca: pki.otherCaFile }), timeoutMs: 5000 });
    try {
      expect((await refusal(queues.createQueue('t1', 'never'))).code).toBe('client.unreachable');
    } finally {
      await queues.close();
    }
    // Nothing of the refused calls reached the server.
    expect(await roundTrip(plain.url, 't1', await tlsOf({ ca: pki.caFile }), 'lib-svc-2')).not.toContain('never-1');
  });

  it('serves the CLI with --cacert, TETHER_CACERT or the flag before the command; exit 3 without the CA', async () => {
    const url = `${plain.url}/v1.0/t2`;
    const env = { TETHER_URL: url };
    const created = await cli(['services', 'register', '--id', 'cli-svc', '--heartbeat-timeout', '30s', '--cacert', pki.caFile, '--json'], env);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const listed = await cli(['services', 'list', '--json'], { ...env, TETHER_CACERT: pki.caFile });
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).map((s: { id: string }) => s.id)).toEqual(['cli-svc']);
    const hoisted = await cli(['--cacert', pki.caFile, 'queues', 'create', 'cli-q'], env);
    expect(hoisted.code).toBe(0);
    expect(hoisted.stdout).toBe('created\n');
    const without = await cli(['services', 'list'], env);
    expect(without.code).toBe(3);
    expect(without.stderr).toMatch(/unreachable/);
    const wrong = await cli(['routes', 'list', '--cacert', pki.otherCaFile], env);
    expect(wrong.code).toBe(3);
  });

  it('a missing --cacert file is a usage error naming the file', async () => {
    const r = await cli(['services', 'list', '--cacert', join(dir.path, 'nope.pem')], { TETHER_URL: `${plain.url}/v1.0/t2` });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('nope.pem');
  });

  it('checks the server name: a certificate for registry.internal needs --server-name on a connection by IP', async () => {
    const named = await startRegistry(join(dir.path, 'data3'), 0, ['--tls-cert', pki.namedCert, '--tls-key', pki.namedKey]);
    procs.push(named);
    const byIp = await refusal(roundTrip(named.url, 't3', await tlsOf({ ca: pki.caFile }), 'never-3'));
    expect(byIp.message).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
    expect(await roundTrip(named.url, 't3', await tlsOf({ ca: pki.caFile }, 'registry.internal'), 'named-svc')).toEqual(['named-svc']);
    const viaCli = await cli(['services', 'list', '--json', '--server-name', 'registry.internal'], { TETHER_URL: `${named.url}/v1.0/t3`, TETHER_CACERT: pki.caFile });
    expect(viaCli.code).toBe(0);
    expect(JSON.parse(viaCli.stdout)).toHaveLength(1);
    await named.stop();
  });

  it('SIGHUP serves a renewed certificate to new connections; a broken renewal keeps the last good one', async () => {
    const ca = await pki.read(pki.caFile);
    expect(await servedCn(plain.port, ca)).toBe('tether-test-server');
    await copyFile(pki.renewedCert, join(dir.path, 'live.pem'));
    await copyFile(pki.renewedKey, join(dir.path, 'live.key'));
    plain.child.kill('SIGHUP');
    await plain.waitForLog((r) => r.msg === 'TLS certificate reloaded', 10_000);
    expect(await servedCn(plain.port, ca)).toBe('tether-renewed');
    // A key that does not match (half-way through a renewal): rejected, the renewed certificate stays.
    await copyFile(pki.serverKey, join(dir.path, 'live.key'));
    plain.child.kill('SIGHUP');
    const rejected = await plain.waitForLog((r) => r.msg === 'TLS files rejected; the previous certificate stays', 10_000);
    expect(String(rejected.error)).toMatch(/live\.pem|key values mismatch|KEY_VALUES_MISMATCH/i);
    expect(await servedCn(plain.port, ca)).toBe('tether-renewed');
    expect(await roundTrip(plain.url, 't1', await tlsOf({ ca: pki.caFile }), 'after-reload')).toContain('after-reload');
    // No key material ever reaches the log.
    expect(plain.log.join('\n')).not.toMatch(/PRIVATE KEY|BEGIN/);
  });
});

describe('slow handshakes', () => {
  it('a connection that never starts its TLS handshake is closed by the server at the header timeout', async () => {
    const quick = await startRegistry(join(dir.path, 'data3'), 0, ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--header-timeout', '1s']);
    procs.push(quick);
    const { port } = new URL(quick.url);
    const started = Date.now();
    const closedAfter = await Promise.all(
      Array.from({ length: 5 }, () => new Promise<number>((resolve, reject) => {
        const sock = createConnection({ host: '127.0.0.1', port: Number(port) });
        sock.on('error', () => {});
        sock.on('close', () => resolve(Date.now() - started));
        setTimeout(() => reject(new Error('the server still holds a silent connection after 10 s')), 10_000).unref();
      })),
    );
    for (const ms of closedAfter) expect(ms).toBeLessThan(10_000);
  }, 30_000);
});

describe('client certificates (--tls-client-ca)', () => {
  it('serves a client with a certificate of the CA (library, queues, CLI)', async () => {
    const tls = await tlsOf({ ca: pki.caFile, cert: pki.clientCert, key: pki.clientKey });
    expect(await roundTrip(mutual.url, 'm1', tls, 'mtls-svc')).toEqual(['mtls-svc']);
    const queues = new HttpQueues({ url: mutual.url, tls, timeoutMs: 5000 });
    try {
      expect(await queues.createQueue('m1', 'q')).toBe(true);
    } finally {
      await queues.close();
    }
    const env = { TETHER_URL: `${mutual.url}/v1.0/m1`, TETHER_CACERT: pki.caFile };
    const r = await cli(['services', 'list', '--json', '--cert', pki.clientCert, '--key', pki.clientKey], env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).map((s: { id: string }) => s.id)).toEqual(['mtls-svc']);
    const viaEnv = await cli(['services', 'list', '--json'], { ...env, TETHER_CERT: pki.clientCert, TETHER_KEY: pki.clientKey });
    expect(viaEnv.code).toBe(0);
  });

  it('refuses a client without a certificate, or with one of another CA', async () => {
    const bare = await refusal(roundTrip(mutual.url, 'm1', await tlsOf({ ca: pki.caFile }), 'never-4'));
    expect(bare.code).toBe('client.unreachable');
    const stranger = await refusal(roundTrip(mutual.url, 'm1', await tlsOf({ ca: pki.caFile, cert: pki.strangerCert, key: pki.strangerKey }), 'never-5'));
    expect(stranger.code).toBe('client.unreachable');
    const r = await cli(['services', 'list'], { TETHER_URL: `${mutual.url}/v1.0/m1`, TETHER_CACERT: pki.caFile });
    expect(r.code).toBe(3);
    const half = await cli(['services', 'list', '--cert', pki.clientCert], { TETHER_URL: `${mutual.url}/v1.0/m1`, TETHER_CACERT: pki.caFile });
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/--cert and --key go together/);
    const ids = await roundTrip(mutual.url, 'm1', await tlsOf({ ca: pki.caFile, cert: pki.clientCert, key: pki.clientKey }), 'mtls-svc-2');
    expect(ids).not.toContain('never-4');
    expect(ids).not.toContain('never-5');
  });
});

describe('server flags', () => {
  it('refuses half a pair, a client CA alone, and a key that does not match the certificate (no key in the message)', async () => {
    const data = join(dir.path, 'data-bad');
    const half = await cli(['registry', '--listen', '127.0.0.1:0', '--data', data, '--tls-cert', pki.serverCert]);
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/--tls-cert and --tls-key go together/);
    const caOnly = await cli(['registry', '--listen', '127.0.0.1:0', '--data', data, '--tls-client-ca', pki.caFile]);
    expect(caOnly.code).toBe(2);
    const mismatch = await cli(['registry', '--listen', '127.0.0.1:0', '--data', data, '--tls-cert', pki.serverCert, '--tls-key', pki.clientKey]);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toMatch(/cannot be used/);
    expect(mismatch.stderr).not.toMatch(/PRIVATE KEY|BEGIN/);
    await writeFile(join(dir.path, 'garbage.pem'), 'not a certificate\n');
    const garbage = await cli(['registry', '--listen', '127.0.0.1:0', '--data', data, '--tls-cert', join(dir.path, 'garbage.pem'), '--tls-key', pki.serverKey]);
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toMatch(/garbage\.pem/);
  });
});
