import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hoistGlobalOptions } from '../../src/cli/args.js';
import { clientTlsFrom, parseEtcdSecurity, parseServerTlsFlags } from '../../src/cli/tls-flags.js';
import { checkListenToken, isLoopback, resolveApiToken } from '../../src/observability/local-api-auth.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/** The pure parts: which addresses count as loopback, and how TLS flags and env combine. */

let dir: TempDir;
let ca: string;
let cert: string;
let key: string;

beforeAll(async () => {
  dir = await createTempDir('tls-flags');
  ca = await dir.write('ca.pem', 'CA-PEM');
  cert = await dir.write('c.pem', 'CERT-PEM');
  key = await dir.write('c.key', 'KEY-PEM');
});
afterAll(async () => {
  await dir.remove();
});

describe('loopback', () => {
  it('knows loopback addresses from the rest', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) expect(isLoopback(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '[::]', '10.0.0.5', '192.168.1.1', 'host.example', '128.0.0.1', '::ffff:10.0.0.1']) expect(isLoopback(h), h).toBe(false);
  });

  it('refuses a non-loopback listen without a token, with a code', () => {
    expect(() => checkListenToken('0.0.0.0', undefined)).toThrow(/TETHER_AGENT_TOKEN/);
    expect(() => checkListenToken('0.0.0.0', '')).toThrow(expect.objectContaining({ code: 'agent.api_token_required' }));
    expect(() => checkListenToken('0.0.0.0', 't')).not.toThrow();
    expect(() => checkListenToken('127.0.0.1', undefined)).not.toThrow();
  });
});

describe('local API token source', () => {
  it('TETHER_AGENT_TOKEN wins; else the file, trailing whitespace dropped; an empty or missing file is an error naming it', async () => {
    const file = await dir.write('token', 'from-file \n');
    expect(await resolveApiToken({ TETHER_AGENT_TOKEN: 'from-env' }, file)).toBe('from-env');
    expect(await resolveApiToken({ TETHER_AGENT_TOKEN: '' }, file)).toBe('from-file');
    expect(await resolveApiToken({}, null)).toBeUndefined();
    const empty = await dir.write('empty', '\n');
    await expect(resolveApiToken({}, empty)).rejects.toMatchObject({ code: 'agent.api_token_unreadable', message: expect.stringContaining('is empty') });
    await expect(resolveApiToken({}, join(dir.path, 'none'))).rejects.toMatchObject({ message: expect.stringContaining('cannot be read (ENOENT)') });
  });
});

describe('client TLS flags', () => {
  it('flags win over env; an empty env var counts as unset; nothing given is undefined', () => {
    expect(clientTlsFrom({}, {})).toBeUndefined();
    expect(clientTlsFrom({}, { TETHER_CACERT: '' })).toBeUndefined();
    const fromEnv = clientTlsFrom({}, { TETHER_CACERT: ca, TETHER_CERT: cert, TETHER_KEY: key, TETHER_SERVER_NAME: 'reg.internal' });
    expect(String(fromEnv?.ca)).toBe('CA-PEM');
    expect(String(fromEnv?.cert)).toBe('CERT-PEM');
    expect(String(fromEnv?.key)).toBe('KEY-PEM');
    expect(fromEnv?.servername).toBe('reg.internal');
    const flag = clientTlsFrom({ 'server-name': 'flag.internal' }, { TETHER_SERVER_NAME: 'env.internal' });
    expect(flag).toEqual({ servername: 'flag.internal' });
  });

  it('a certificate without its key, or an unreadable file, is a usage error naming the flag and path only', () => {
    expect(() => clientTlsFrom({ cert }, {})).toThrow(/--cert and --key go together/);
    const missing = join(dir.path, 'missing.pem');
    expect(() => clientTlsFrom({ cacert: missing }, {})).toThrow(expect.objectContaining({ code: 'cli.usage', message: expect.stringContaining(`--cacert ${missing} cannot be read (ENOENT)`) }));
  });

  it('are hoisted from before the command like --url and --token', () => {
    expect(hoistGlobalOptions(['--cacert', 'ca.pem', '--server-name=reg', 'services', 'list'])).toEqual(['services', 'list', '--cacert', 'ca.pem', '--server-name=reg']);
    expect(hoistGlobalOptions(['--cert', 'c', '--key', 'k', 'limits'])).toEqual(['limits', '--cert', 'c', '--key', 'k']);
  });
});

describe('server and etcd flags', () => {
  it('server TLS needs the certificate and key together; a client CA needs both', () => {
    expect(parseServerTlsFlags({}, 'registry')).toBeUndefined();
    expect(parseServerTlsFlags({ 'tls-cert': 'c', 'tls-key': 'k' }, 'registry')).toEqual({ certFile: 'c', keyFile: 'k' });
    expect(parseServerTlsFlags({ 'tls-cert': 'c', 'tls-key': 'k', 'tls-client-ca': 'a' }, 'registry')).toEqual({ certFile: 'c', keyFile: 'k', clientCaFile: 'a' });
    expect(() => parseServerTlsFlags({ 'tls-key': 'k' }, 'registry')).toThrow(/go together/);
    expect(() => parseServerTlsFlags({ 'tls-client-ca': 'a' }, 'registry')).toThrow(/needs --tls-cert/);
  });

  it('etcd auth from a password file (newline dropped) or env; never half; only with --store etcd', async () => {
    const pw = join(dir.path, 'pw');
    await writeFile(pw, 's3cret\n');
    expect(parseEtcdSecurity({ 'etcd-user': 'u', 'etcd-password-file': pw }, 'etcd', {})).toEqual({ auth: { user: 'u', password: 's3cret' } });
    expect(parseEtcdSecurity({}, 'etcd', { TETHER_ETCD_USER: 'u', TETHER_ETCD_PASSWORD: 'p' })).toEqual({ auth: { user: 'u', password: 'p' } });
    expect(parseEtcdSecurity({}, 'etcd', {})).toEqual({});
    expect(() => parseEtcdSecurity({ 'etcd-user': 'u' }, 'etcd', {})).toThrow(/needs both a user/);
    expect(() => parseEtcdSecurity({}, 'etcd', { TETHER_ETCD_PASSWORD: 'p' })).toThrow(/needs both a user/);
    expect(() => parseEtcdSecurity({ 'etcd-cacert': ca }, 'sqlite', {})).toThrow(/--etcd-cacert needs --store etcd/);
    const tls = parseEtcdSecurity({ 'etcd-cacert': ca, 'etcd-cert': cert, 'etcd-key': key }, 'etcd', {}).tls;
    expect(String(tls?.ca)).toBe('CA-PEM');
    expect(() => parseEtcdSecurity({ 'etcd-key': key }, 'etcd', {})).toThrow(/--etcd-cert and --etcd-key go together/);
  });
});
