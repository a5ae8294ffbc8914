import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCode } from '../../src/lib/errors.js';
import { openEtcdStore } from '../../src/store/etcd.js';
import { b64 } from '../../src/store/etcd-gateway.js';
import { openTransport, type EtcdTransportKind } from '../../src/store/etcd-transport.js';
import { uniquePrefix } from '../helpers/etcd.js';
import { makeTestPki, type TestPki } from './certs.js';
import { enableEtcdAuth, startSecureEtcd, type SecureEtcd } from './etcd-secure.js';

/**
 * TLS and etcd auth through each transport (gRPC and the JSON gateway), at
 * the library level: https with a client certificate, a token that expires
 * and is renewed within one call, the watch stream with a token, and the
 * refusals keeping their codes without the password in any message.
 */

const PASSWORD = 'tether-pw-2c9d41';
const TOKEN_TTL_S = 2;
const tokenExpiry = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, (TOKEN_TTL_S + 1.5) * 1000));

let pki: TestPki;
let tlsEtcd: SecureEtcd;
let authEtcd: SecureEtcd;
let authPrefix: string;

beforeAll(async () => {
  pki = await makeTestPki();
  authPrefix = uniquePrefix();
  [tlsEtcd, authEtcd] = await Promise.all([startSecureEtcd(pki), startSecureEtcd(undefined, ['--auth-token-ttl', String(TOKEN_TTL_S)])]);
  await enableEtcdAuth(authEtcd, authPrefix, 'root-pw-9911', PASSWORD);
}, 60_000);

afterAll(async () => {
  await Promise.all([tlsEtcd?.stop(), authEtcd?.stop()]);
  await pki?.remove();
});

describe.each<EtcdTransportKind>(['grpc', 'gateway'])('etcd over %s, secured', (transport) => {
  it('TLS: the store writes, reads and watches with the CA and a client certificate; without the certificate it is refused', async () => {
    const tls = { ca: await pki.read(pki.caFile), cert: await pki.read(pki.clientCert), key: await pki.read(pki.clientKey) };
    const store = await openEtcdStore({ endpoints: [tlsEtcd.endpoint], prefix: uniquePrefix(), tls, transport, compactionIntervalMs: 0 });
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
    const bare = await openEtcdStore({ endpoints: [tlsEtcd.endpoint], timeoutMs: 3000, tls: { ca: await pki.read(pki.caFile) }, transport }).then(() => null, (e: unknown) => e);
    expect(hasCode(bare, 'store.unavailable')).toBe(true);
  });

  it('auth: one call after the token expired logs in again and succeeds; a key outside the grant is store.failed', async () => {
    const t = await openTransport(transport, { endpoints: [authEtcd.endpoint], timeoutMs: 3000, auth: { user: 'tether', password: PASSWORD } });
    try {
      const key = b64(`${authPrefix}${transport}`);
      await t.call('/v3/kv/txn', { success: [{ request_put: { key, value: b64('v1') } }] }, false);
      await tokenExpiry();
      // One call, no poll: the old token is refused, the transport logs in and sends it again.
      const r = await t.call<{ kvs?: Array<{ value: string }> }>('/v3/kv/range', { key }, true);
      expect(Buffer.from(r.kvs?.[0]?.value ?? '', 'base64').toString()).toBe('v1');
      const denied = await t.call('/v3/kv/range', { key: b64('elsewhere/x') }, true).then(() => null, (e: unknown) => e);
      expect(hasCode(denied, 'store.failed')).toBe(true);
      expect(String((denied as Error).message)).toMatch(/permission denied/);
    } finally {
      await t.close();
    }
  });

  it('auth: the store watches with its token, also after it expired; a wrong password is store.auth_failed without the password', async () => {
    const store = await openEtcdStore({ endpoints: [authEtcd.endpoint], prefix: `${authPrefix}${transport}-w/`, auth: { user: 'tether', password: PASSWORD }, transport, compactionIntervalMs: 0 });
    try {
      const seen: string[] = [];
      const stop = new AbortController();
      await store.watch('', (await store.watchedRevision()) + 1, (events) => seen.push(...events.map((e) => e.key)), stop.signal);
      await tokenExpiry();
      await store.txn([], [{ type: 'put', key: 'after-expiry', value: '1' }]);
      await expect.poll(() => seen, { timeout: 10_000 }).toContain('after-expiry');
      stop.abort();
    } finally {
      await store.close();
    }
    const wrong = await openEtcdStore({ endpoints: [authEtcd.endpoint], prefix: authPrefix, auth: { user: 'tether', password: 'not-it-4471' }, transport, timeoutMs: 3000 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(hasCode(wrong, 'store.auth_failed')).toBe(true);
    expect(String((wrong as Error).message)).not.toContain('not-it-4471');
  });
});
