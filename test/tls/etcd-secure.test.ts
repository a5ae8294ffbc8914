import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/client.js';
import { hasCode } from '../../src/lib/errors.js';
import { openEtcdStore } from '../../src/store/etcd.js';
import { b64, EtcdGateway } from '../../src/store/etcd-gateway.js';
import { uniquePrefix, startEtcdRegistry } from '../helpers/etcd.js';
import { spawnTether, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { makeTestPki, type TestPki } from './certs.js';
import { enableEtcdAuth, startSecureEtcd, type SecureEtcd } from './etcd-secure.js';

/**
 * The etcd store over a secured etcd: https with client certificates
 * (--client-cert-auth), and etcd's own auth (a user allowed one prefix).
 * Both through the library (openEtcdStore) and `tether registry` processes.
 */

const PASSWORD = 'tether-pw-5f1c0a9e';
const ROOT_PASSWORD = 'root-pw-77aa31';
const TOKEN_TTL_S = 2;

/** Lets etcd's token TTL run out: a wait for a server-side clock, not for an event a poll could see. */
const tokenExpiry = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, (TOKEN_TTL_S + 1.5) * 1000));

let pki: TestPki;
let dir: TempDir;
let tlsEtcd: SecureEtcd;
let authEtcd: SecureEtcd;
let authPrefix: string;
const procs: RegistryProc[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
  dir = await createTempDir('etcd-secure-test');
  authPrefix = uniquePrefix();
  // Tokens idle for 2 s expire (etcd's default is 5 min): what a registry meets after a quiet spell.
  [tlsEtcd, authEtcd] = await Promise.all([startSecureEtcd(pki), startSecureEtcd(undefined, ['--auth-token-ttl', String(TOKEN_TTL_S)])]);
  await enableEtcdAuth(authEtcd, authPrefix, ROOT_PASSWORD, PASSWORD);
}, 60_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await Promise.all([tlsEtcd?.stop(), authEtcd?.stop()]);
  await dir?.remove();
  await pki?.remove();
});

async function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  const p = spawnTether(args, env);
  const { code } = await p.exited;
  return { code, stderr: p.log.join('\n') };
}

async function createAndRead(url: string, tenant: string, id: string): Promise<string> {
  const client = new Client({ url: `${url}/v1.0/${tenant}`, timeoutMs: 5000 });
  try {
    await client.services.create({ id, heartbeat_timeout: 30 });
    return (await client.services.get(id)).id;
  } finally {
    await client.close();
  }
}

describe('etcd over TLS with client certificates', () => {
  it('the store reads, writes and watches through https with the CA and a client certificate', async () => {
    const tls = { ca: await pki.read(pki.caFile), cert: await pki.read(pki.clientCert), key: await pki.read(pki.clientKey) };
    const store = await openEtcdStore({ endpoints: [tlsEtcd.endpoint], prefix: uniquePrefix(), tls });
    try {
      const seen: string[] = [];
      const stop = new AbortController();
      await store.watch('', (await store.watchedRevision()) + 1, (events) => seen.push(...events.map((e) => e.key)), stop.signal);
      await store.txn([], [{ type: 'put', key: 'a', value: '1' }]);
      expect((await store.get('a'))?.value).toBe('1');
      await expect.poll(() => seen, { timeout: 10_000 }).toContain('a');
      stop.abort();
    } finally {
      await store.close();
    }
  });

  it('is refused without a client certificate, and with a CA that did not sign etcd', async () => {
    const ca = await pki.read(pki.caFile);
    const bare = await openEtcdStore({ endpoints: [tlsEtcd.endpoint], timeoutMs: 3000, tls: { ca } }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(hasCode(bare, 'store.unavailable')).toBe(true);
    const other = await openEtcdStore({
      endpoints: [tlsEtcd.endpoint],
      timeoutMs: 3000,
      tls: { ca: await pki.read(pki.otherCaFile), cert: await pki.read(pki.clientCert), key: await pki.read(pki.clientKey) },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(hasCode(other, 'store.unavailable')).toBe(true);
    // The gateway's pool names the OpenSSL code; grpc-js gives its text.
    expect(String((other as Error).message)).toMatch(/SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|unable to verify the first certificate|self.signed certificate/);
  });

  it('tether registry --etcd-cacert/--etcd-cert/--etcd-key serves; without the client certificate it does not start', async () => {
    const flags = ['--etcd-cacert', pki.caFile, '--etcd-cert', pki.clientCert, '--etcd-key', pki.clientKey];
    const reg = await startEtcdRegistry([tlsEtcd.endpoint], uniquePrefix(), 0, flags);
    procs.push(reg);
    expect(await createAndRead(reg.url, 'tls-tenant', 'over-tls')).toBe('over-tls');
    const refused = await run(['registry', '--listen', '127.0.0.1:0', '--store', 'etcd', '--etcd-endpoints', tlsEtcd.endpoint, '--etcd-cacert', pki.caFile, '--etcd-timeout', '2s']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/etcd at https:\/\/127\.0\.0\.1:\d+ did not answer/);
    const half = await run(['registry', '--store', 'etcd', '--etcd-endpoints', tlsEtcd.endpoint, '--etcd-cert', pki.clientCert]);
    expect(half.code).toBe(2);
    const sqlite = await run(['registry', '--data', join(dir.path, 'x'), '--etcd-cacert', pki.caFile]);
    expect(sqlite.code).toBe(2);
    expect(sqlite.stderr).toMatch(/--etcd-cacert needs --store etcd/);
  });
});

describe('etcd with auth enabled', () => {
  it('tether registry logs in with --etcd-user/--etcd-password-file, within the granted prefix', async () => {
    const pwFile = join(dir.path, 'etcd-password');
    await writeFile(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
    const reg = await startEtcdRegistry([authEtcd.endpoint], authPrefix, 0, ['--etcd-user', 'tether', '--etcd-password-file', pwFile]);
    procs.push(reg);
    expect(await createAndRead(reg.url, 'auth-tenant', 'with-auth')).toBe('with-auth');
    // The data is in etcd under the prefix, readable by root.
    const keys = await authEtcd.ctl(['get', '--prefix', '--keys-only', authPrefix], authEtcd.admin);
    expect(keys).toContain('with-auth');
    expect(reg.log.join('\n')).not.toContain(PASSWORD);
  });

  it('logs in again when its token expires or etcd restarts: requests go on without a registry restart', async () => {
    const proc = spawnTether(['registry', '--listen', '127.0.0.1:0', '--store', 'etcd', '--etcd-endpoints', authEtcd.endpoint, '--etcd-prefix', authPrefix], {
      TETHER_ETCD_USER: 'tether',
      TETHER_ETCD_PASSWORD: PASSWORD,
    });
    const url = (await proc.waitForLog((r) => typeof r.url === 'string', 20_000)).url as string;
    procs.push({ ...proc, url, port: Number(new URL(url).port) });
    expect(await createAndRead(url, 'auth-tenant', 'before-restart')).toBe('before-restart');
    await tokenExpiry();
    expect(await createAndRead(url, 'auth-tenant', 'after-expiry')).toBe('after-expiry');
    await authEtcd.restart();
    await expect
      .poll(() => createAndRead(url, 'auth-tenant', `after-restart-${Date.now()}`).then(() => 'ok', (e: unknown) => String(e)), { timeout: 20_000, interval: 500 })
      .toBe('ok');
    const client = new Client({ url: `${url}/v1.0/auth-tenant`, timeoutMs: 5000 });
    try {
      expect((await client.services.listAll()).map((s) => s.id)).toContain('before-restart');
    } finally {
      await client.close();
    }
    expect(proc.log.join('\n')).not.toContain(PASSWORD);
  });

  it('the gateway alone (no watch stream) logs in again at the first "invalid auth token" once its token expired', async () => {
    const gw = new EtcdGateway({ endpoints: [authEtcd.endpoint], timeoutMs: 3000, auth: { user: 'tether', password: PASSWORD } });
    try {
      const put = { success: [{ request_put: { key: b64(`${authPrefix}gw`), value: b64('v1') } }] };
      await gw.call('/v3/kv/txn', put, false);
      await tokenExpiry();
      // One call, no poll: the old token is refused, the gateway logs in and sends it again.
      const r = await gw.call<{ kvs?: Array<{ value: string }> }>('/v3/kv/range', { key: b64(`${authPrefix}gw`) }, true);
      expect(Buffer.from(r.kvs?.[0]?.value ?? '', 'base64').toString()).toBe('v1');
      // Outside the granted prefix: etcd's own permission check still applies (a failure, not a re-login loop).
      const denied = await gw.call('/v3/kv/range', { key: b64('elsewhere/x') }, true).then(() => null, (e: unknown) => e);
      expect(hasCode(denied, 'store.failed')).toBe(true);
      expect(String((denied as Error).message)).toMatch(/permission denied/);
    } finally {
      await gw.close();
    }
  });

  it('a wrong password stops the start with a clear message that does not carry it; half the pair is a usage error', async () => {
    const wrong = await run(['registry', '--listen', '127.0.0.1:0', '--store', 'etcd', '--etcd-endpoints', authEtcd.endpoint, '--etcd-prefix', authPrefix], {
      TETHER_ETCD_USER: 'tether',
      TETHER_ETCD_PASSWORD: 'not-the-password-123',
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/user or password wrong/);
    expect(wrong.stderr).not.toContain('not-the-password-123');
    const userOnly = await run(['registry', '--store', 'etcd', '--etcd-endpoints', authEtcd.endpoint, '--etcd-user', 'tether']);
    expect(userOnly.code).toBe(2);
    expect(userOnly.stderr).toMatch(/etcd auth needs both a user/);
    const noAuth = await run(['registry', '--listen', '127.0.0.1:0', '--store', 'etcd', '--etcd-endpoints', authEtcd.endpoint, '--etcd-prefix', authPrefix]);
    expect(noAuth.code).toBe(1);
  });
});
