import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { request } from 'undici';
import { TetherError } from '../../src/lib/errors.js';
import { freePort } from '../../test/helpers/ports.js';
import type { Cleanup } from './cleanup.js';
import { startServer, tempDir, type Server } from './child.js';

/** Debian's etcd-server; ETCD_BIN overrides it. */
const ETCD = process.env.ETCD_BIN ?? '/usr/bin/etcd';

/**
 * A single-member etcd on free loopback ports with its data in a temp dir,
 * ready once `GET /health` says `"health":"true"`. Fails loudly (TetherError
 * `bench.serverStart`) when it cannot start.
 */
export async function startEtcd(cleanup: Cleanup): Promise<Server> {
  const dir = tempDir(cleanup, 'etcd');
  const [client, peer] = [await freePort(), await freePort()];
  const clientUrl = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  return startServer(cleanup, {
    name: 'etcd',
    command: ETCD,
    args: [
      '--name', 'bench',
      '--data-dir', `${dir}/data`,
      '--listen-client-urls', clientUrl,
      '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `bench=${peerUrl}`,
      '--log-level', 'warn',
    ],
    dir,
    url: clientUrl,
    ready: async (url) => {
      const res = await request(`${url}/health`);
      const body = (await res.body.json()) as { health?: unknown };
      return res.statusCode === 200 && body.health === 'true';
    },
  });
}

/** `etcd --version`'s first line, e.g. "3.4.23"; fails loudly when etcd is missing. */
export async function etcdVersion(): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(ETCD, ['--version']);
    return /etcd Version:\s*(\S+)/.exec(stdout)?.[1] ?? stdout.split('\n')[0] ?? '?';
  } catch (cause) {
    throw new TetherError('bench.serverStart', `etcd is not runnable at ${ETCD} (install etcd-server or set ETCD_BIN)`, { cause });
  }
}

/** etcd's v3 JSON gateway encodes keys and values as base64. */
export const b64 = (s: string): string => Buffer.from(s).toString('base64');
