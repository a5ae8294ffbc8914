import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { request } from 'undici';
import { TetherError } from '../../src/lib/errors.js';
import { freePort } from '../../test/helpers/ports.js';
import type { Cleanup } from './cleanup.js';
import { startServer, tempDir, type Server } from './child.js';
import { deployedAgentNodeArgs } from './agent-tether.js';
import { startEtcd } from './etcd.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(ROOT, 'dist/cli/main.js');
const REGISTRY_UNIT = join(ROOT, 'systemd/tether-registry.service');

/**
 * The node flags the registry runs with where it is deployed: those of
 * systemd/tether-registry.service's ExecStart (the Kubernetes registry
 * containers and the Dockerfile's example have the same; a test holds them
 * equal), so that the benches measure the registry as it runs there.
 */
export const deployedRegistryNodeArgs = (): string[] => deployedAgentNodeArgs(REGISTRY_UNIT);

export interface TetherOptions {
  /** `sqlite` (default) or `etcd`: then an etcd of its own is started for the registry to store in, unless `etcdUrl` names one. */
  store?: string | undefined;
  /** With `store: 'etcd'`: the etcd to share (two servers over one etcd). */
  etcdUrl?: string;
  /** With `store: 'etcd'`: `--etcd-transport` (grpc or gateway; default: the server's). */
  etcdTransport?: string | undefined;
  /** Extra node flags for the registry process, after the deployed ones (a later V8 flag wins), e.g. `--cpu-prof`. */
  nodeArgs?: readonly string[];
  /** Extra `tether registry` flags, e.g. `--limits service=500`. */
  args?: readonly string[];
  /** The CLI entry to run (default dist/cli/main.js): another build's, for A/B runs. */
  main?: string;
}

/**
 * `tether registry` from dist/ as a child process (its own core), on a free
 * loopback port with its data in a temp dir; ready once `GET /v1.0/bench/limits`
 * answers 200. Fails loudly (TetherError `bench.serverStart`) when dist/ is
 * missing or the server does not come up.
 */
export async function startTether(cleanup: Cleanup, opts: TetherOptions = {}): Promise<Server> {
  const main = opts.main ?? MAIN;
  if (!existsSync(main)) {
    throw new TetherError('bench.serverStart', `${main} is missing: build it with \`npx tsc -p tsconfig.build.json\``);
  }
  const dir = tempDir(cleanup, 'tether');
  const port = await freePort();
  let store: string[];
  if (opts.store === undefined || opts.store === 'sqlite') store = ['--data', `${dir}/data`];
  else if (opts.store === 'etcd') {
    store = ['--store', 'etcd', '--etcd-endpoints', opts.etcdUrl ?? (await startEtcd(cleanup)).url];
    if (opts.etcdTransport !== undefined) store.push('--etcd-transport', opts.etcdTransport);
  }
  else throw new TetherError('bench.usage', `--store must be sqlite or etcd, got ${opts.store}`);
  return startServer(cleanup, {
    name: `tether registry (${opts.store ?? 'sqlite'})`,
    command: process.execPath,
    // Every simulated client connects from 127.0.0.1: the per-address cap (200 by default) is for real fleets.
    args: [...deployedRegistryNodeArgs(), ...(opts.nodeArgs ?? []), main, 'registry', '--listen', `127.0.0.1:${port}`, ...store, '--max-connections-per-client', '1000000', ...(opts.args ?? [])],
    dir,
    url: `http://127.0.0.1:${port}`,
    ready: async (url) => {
      const res = await request(`${url}/v1.0/bench/limits`);
      await res.body.dump();
      return res.statusCode === 200;
    },
  });
}

/** A warning when some file under src/ is newer than the dist/ build we are about to measure. */
export function staleBuildWarning(): string | null {
  if (!existsSync(MAIN)) return null;
  const built = statSync(MAIN).mtimeMs;
  const newer = newestUnder(join(ROOT, 'src'));
  return newer.mtime > built ? `warning: ${newer.path} is newer than dist/ (rebuild: npx tsc -p tsconfig.build.json)` : null;
}

function newestUnder(dir: string): { path: string; mtime: number } {
  let best = { path: dir, mtime: 0 };
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.ts') || e.name.endsWith('.test.ts')) continue;
    const path = join(e.parentPath, e.name);
    const mtime = statSync(path).mtimeMs;
    if (mtime > best.mtime) best = { path, mtime };
  }
  return best;
}
