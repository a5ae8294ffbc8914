import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from 'undici';
import { spawnAgent } from './agent-tether.js';
import { startServer, tempDir, type Server } from './child.js';
import type { Cleanup } from './cleanup.js';
import { b64 } from './etcd.js';
import { expectJson } from './http.js';
import { FileObserver, type DetectMode } from './propagation-observe.js';

/**
 * The two pipelines the propagation bench times, each "write a value at the
 * source -> a process puts it in a file", built the same way: a writer on its
 * own keep-alive connection, the follower process, and a FileObserver on the
 * file it writes. Both are checked end to end (an initial value must reach
 * the file) before they are handed out.
 */

/** The configuration key (namespaced, so the v1.0 path has a double slash) and the etcd key. */
export const KEY = '/bench/propagation/value';
/** First start of a follower process, and its first file. */
const START_TIMEOUT_MS = 15_000;
const WATCHER = fileURLToPath(new URL('./propagation-etcd-watcher.ts', import.meta.url));

export interface Pipeline {
  observer: FileObserver;
  /** The process that writes the file (the agent, or the etcd watcher). */
  follower: Server;
  /** Writes `value` at the source; resolves once the source acknowledged it (rejects on any other reply). */
  put(value: string): Promise<void>;
  /** Stops the follower and the writer's connection. */
  close(): Promise<void>;
}

/** Waits until the file holds `value` (it may already); then forgets the backstop reads that setup caused. */
async function firstContent(observer: FileObserver, value: string): Promise<void> {
  if (observer.read() !== value) await observer.waitFor(value, START_TIMEOUT_MS);
  observer.missed = 0;
}

/** Node flags for the agent, from env TETHER_BENCH_AGENT_NODE_ARGS (shared with the agent bench), e.g. "--cpu-prof --cpu-prof-dir=/tmp/propprof". */
export const agentNodeArgs = (): string[] => (process.env.TETHER_BENCH_AGENT_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== '');

/**
 * `tether agent` (dist/) following `tenant` on `registry`, rendering KEY raw
 * into DIR/out/value, with the manifest of the README's "Files" section and
 * nothing else (no services). Resolves once the initial value is on disk.
 */
export async function tetherPipeline(cleanup: Cleanup, registry: Server, tenant: string, detect: DetectMode): Promise<Pipeline> {
  const writer = new Client(registry.url, { pipelining: 1 });
  const put = async (value: string): Promise<void> => void (await expectJson(writer, 'PUT', `/v1.0/${tenant}/configuration/${KEY}`, { value }, 204));
  const dir = tempDir(cleanup, 'propagation-agent');
  const out = join(dir, 'out');
  await mkdir(out);
  const manifest = join(dir, 'tether.yaml');
  await writeFile(
    manifest,
    [
      `upstream: { url: ${registry.url}/v1.0/${tenant} }`,
      `agent: { listen: 127.0.0.1:0, state_dir: ${JSON.stringify(join(dir, 'state'))} }`,
      'files:',
      `  - path: ${JSON.stringify(join(out, 'value'))}`,
      `    from: { key: ${KEY} }`,
      '',
    ].join('\n'),
  );
  const initial = `initial-${tenant}`;
  await put(initial);
  const observer = new FileObserver(cleanup, join(out, 'value'), detect);
  const agent = await spawnAgent(cleanup, dir, manifest, agentNodeArgs());
  await firstContent(observer, initial);
  return {
    observer,
    follower: agent.server,
    put,
    close: async () => {
      observer.close();
      await agent.server.stop();
      await writer.destroy();
    },
  };
}

/**
 * The minimal etcd watcher (propagation-etcd-watcher.ts, a child process)
 * on KEY, writing DIR/out/value. Resolves once its watch is live and a first
 * value went through to the file.
 */
export async function etcdPipeline(cleanup: Cleanup, etcd: Server, detect: DetectMode): Promise<Pipeline> {
  const writer = new Client(etcd.url, { pipelining: 1 });
  const put = async (value: string): Promise<void> => void (await expectJson(writer, 'POST', '/v3/kv/put', { key: b64(KEY), value: b64(value) }, 200));
  const dir = tempDir(cleanup, 'propagation-etcd-watcher');
  const out = join(dir, 'out');
  await mkdir(out);
  const observer = new FileObserver(cleanup, join(out, 'value'), detect);
  const watcher = await startServer(cleanup, {
    name: 'etcd watcher',
    command: process.execPath,
    // Absolute, as the child runs in its temp dir, where `tsx` does not resolve.
    args: ['--import', import.meta.resolve('tsx'), WATCHER, etcd.url, KEY, join(out, 'value')],
    dir,
    url: etcd.url,
    ready: async () => (await readFile(join(dir, 'server.log'), 'utf8')).includes('watching'),
  });
  const initial = 'initial-etcd';
  const first = observer.waitFor(initial, START_TIMEOUT_MS);
  await put(initial);
  await first;
  observer.missed = 0;
  return {
    observer,
    follower: watcher,
    put,
    close: async () => {
      observer.close();
      await watcher.stop();
      await writer.destroy();
    },
  };
}
