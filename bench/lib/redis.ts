import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { TetherError } from '../../src/lib/errors.js';
import { freePort } from '../../test/helpers/ports.js';
import type { Cleanup } from './cleanup.js';
import { startServer, tempDir, type Server } from './child.js';

/** Debian's redis-server; REDIS_BIN overrides it. */
const REDIS = process.env.REDIS_BIN ?? '/usr/bin/redis-server';

export interface RedisServer extends Server {
  port: number;
  /** `CONFIG GET appendonly` and `appendfsync`, as the server reports them. */
  durability: string;
}

/**
 * redis-server on a free loopback port, its data in a temp dir, durable the
 * way Tether is: every write appended to the AOF and fsynced before the reply
 * (appendonly yes, appendfsync always; Redis fsyncs once per event-loop
 * iteration for all the clients served in it, a group commit too). No RDB
 * snapshots (save ""), so no fork competes for the 2 cores mid-measurement.
 */
export async function startRedis(cleanup: Cleanup): Promise<RedisServer> {
  const dir = tempDir(cleanup, 'redis');
  const port = await freePort();
  const server = await startServer(cleanup, {
    name: 'redis-server',
    command: REDIS,
    args: [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', dir,
      '--appendonly', 'yes',
      '--appendfsync', 'always',
      '--save', '',
      '--daemonize', 'no',
      '--protected-mode', 'yes',
    ],
    dir,
    url: `redis://127.0.0.1:${port}`,
    ready: async () => (await withClient(port, (r) => r.ping())) === 'PONG',
  });
  const durability = await withClient(port, async (r) => {
    const [, appendonly] = (await r.config('GET', 'appendonly')) as string[];
    const [, appendfsync] = (await r.config('GET', 'appendfsync')) as string[];
    return `appendonly ${appendonly}, appendfsync ${appendfsync}`;
  });
  return { ...server, port, durability };
}

/**
 * One plain connection (no auto-pipelining): one command in flight per
 * await, like one keep-alive HTTP connection. RESP2, whose stream replies
 * are the documented nested arrays (ioredis 6 speaks RESP3 by default, where
 * XREADGROUP answers a map).
 */
export function redisClient(port: number): Redis {
  return new Redis({ host: '127.0.0.1', port, protocol: 2, enableAutoPipelining: false, maxRetriesPerRequest: 0 });
}

async function withClient<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ host: '127.0.0.1', port, protocol: 2, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/** `redis-server --version`'s version, e.g. "7.0.15"; fails loudly when it is missing. */
export async function redisVersion(): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(REDIS, ['--version']);
    return /v=(\S+)/.exec(stdout)?.[1] ?? stdout.trim();
  } catch (cause) {
    throw new TetherError('bench.serverStart', `redis-server is not runnable at ${REDIS} (install redis-server or set REDIS_BIN)`, { cause });
  }
}
