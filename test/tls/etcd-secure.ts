import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from '../helpers/ports.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import type { TestPki } from './certs.js';

const run = promisify(execFile);
const ETCD = process.env.ETCD_BIN ?? '/usr/bin/etcd';
const ETCDCTL = process.env.ETCDCTL_BIN ?? '/usr/bin/etcdctl';

/** One etcd member as an operator secures it: TLS with client certificates, and/or auth. */
export interface SecureEtcd {
  endpoint: string;
  /** etcdctl against this member with its TLS flags (and `--user` when given). */
  ctl(args: string[], user?: string): Promise<string>;
  /** With auth enabled: the root user:password etcdctl's health checks use (a request without a user is refused). */
  admin: string | undefined;
  /** SIGKILL, then start again on the same data (simple auth tokens survive: etcd replays their logins from its log). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts etcd on a free loopback port. With `pki`: https with the test CA's
 * server certificate and `--client-cert-auth` (clients need a certificate of
 * the same CA); `extra` flags are added (e.g. `--auth-token-ttl`). Resolves once `etcdctl endpoint health` passes.
 */
export async function startSecureEtcd(pki?: TestPki, extra: string[] = []): Promise<SecureEtcd> {
  const dir: TempDir = await createTempDir('etcd-secure');
  const scheme = pki ? 'https' : 'http';
  const endpoint = `${scheme}://127.0.0.1:${await freePort()}`;
  const peer = `http://127.0.0.1:${await freePort()}`;
  const tlsArgs = pki ? ['--cert-file', pki.etcdCert, '--key-file', pki.etcdKey, '--trusted-ca-file', pki.caFile, '--client-cert-auth'] : [];
  const ctlTls = pki ? ['--cacert', pki.caFile, '--cert', pki.clientCert, '--key', pki.clientKey] : [];
  let child: ChildProcess | undefined;
  let log = '';
  const launch = (state: 'new' | 'existing'): void => {
    child = spawn(
      ETCD,
      [
        '--name', 'm0',
        '--data-dir', `${dir.path}/m0`,
        '--listen-client-urls', endpoint,
        '--advertise-client-urls', endpoint,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `m0=${peer}`,
        '--initial-cluster-state', state,
        '--heartbeat-interval', '50',
        '--election-timeout', '500',
        '--log-level', 'warn',
        ...tlsArgs,
        ...extra,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  };
  const ctl = async (args: string[], user?: string): Promise<string> => {
    const { stdout } = await run(ETCDCTL, ['--endpoints', endpoint, ...ctlTls, ...(user ? ['--user', user] : []), ...args]);
    return stdout;
  };
  const healthy = async (): Promise<void> => {
    const until = Date.now() + 20_000;
    for (;;) {
      if (child?.exitCode !== null) throw new Error(`etcd exited: ${log}`);
      try {
        await ctl(['endpoint', 'health', '--command-timeout', '1s'], etcd.admin);
        return;
      } catch {
        if (Date.now() > until) throw new Error(`etcd not healthy: ${log}`);
        await sleep(100);
      }
    }
  };
  const kill = async (): Promise<void> => {
    const c = child;
    if (c && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((resolve) => c.once('exit', resolve));
      c.kill('SIGKILL');
      await exited;
    }
  };
  const etcd: SecureEtcd = {
    admin: undefined,
    endpoint,
    ctl,
    restart: async () => {
      await kill();
      launch('existing');
      await healthy();
    },
    stop: async () => {
      await kill();
      await dir.remove().catch(() => undefined);
    },
  };
  launch('new');
  await healthy();
  return etcd;
}

/**
 * Turns etcd's auth on with a root user and a user `tether` that may read
 * and write only under `prefix` (what an operator grants a registry).
 */
export async function enableEtcdAuth(etcd: SecureEtcd, prefix: string, rootPassword: string, password: string): Promise<void> {
  await etcd.ctl(['user', 'add', `root:${rootPassword}`]);
  await etcd.ctl(['user', 'add', `tether:${password}`]);
  await etcd.ctl(['role', 'add', 'tether-rw']);
  await etcd.ctl(['role', 'grant-permission', 'tether-rw', '--prefix=true', 'readwrite', prefix]);
  await etcd.ctl(['user', 'grant-role', 'tether', 'tether-rw']);
  await etcd.ctl(['auth', 'enable']);
  etcd.admin = `root:${rootPassword}`;
}
