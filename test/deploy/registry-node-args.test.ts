import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { deployedRegistryNodeArgs } from '../../bench/lib/tether.js';
import { repoRoot } from '../helpers/clean-copy.js';
import { cliMain, spawnProc, type Proc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * The registry's V8 setting where it is deployed: systemd/tether-registry.service
 * caps the young generation with node's argument (a burst of long-polls grows
 * it to 128 MB on Node 24 otherwise, and it stays), the Kubernetes registry
 * containers and the Dockerfile's registry example say the same, the benches
 * start the registry with it, and the running registry has it.
 */

const run = promisify(execFile);
const read = (path: string): Promise<string> => readFile(join(repoRoot, path), 'utf8');
const BIN = '/usr/local/bin/tether';

/** The registry unit's ExecStart, split into words. */
async function execStart(): Promise<string[]> {
  return (/^ExecStart=(.*)$/m.exec(await read('systemd/tether-registry.service'))?.[1] ?? '').trim().split(/\s+/);
}

/** The node flags of the registry unit's ExecStart. */
async function unitFlags(): Promise<string[]> {
  const words = await execStart();
  return words.slice(2, words.indexOf(BIN));
}

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string }>;
}

/** The registry containers of a manifest file (every workload kind). */
async function registryContainers(path: string): Promise<Container[]> {
  const docs = parseAllDocuments(await read(path)).map((d) => d.toJS() as { spec?: { template?: { spec?: { containers?: Container[] } } } });
  return docs.flatMap((d) => d.spec?.template?.spec?.containers ?? []).filter((c) => c.args?.[0] === 'registry');
}

const temps: TempDir[] = [];
const procs: Proc[] = [];
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop('SIGKILL')));
  await Promise.all(temps.map((t) => t.remove()));
});

describe('the registry node arguments', () => {
  it('systemd/tether-registry.service gives node a young generation cap as an argument, and no old generation cap or NODE_OPTIONS', async () => {
    const words = await execStart();
    expect(words.slice(0, 2)).toEqual(['/usr/bin/env', 'node']);
    expect((await unitFlags()).join(' ')).toMatch(/^--max-semi-space-size=\d+$/);
    expect(words.slice(words.indexOf(BIN) + 1, words.indexOf(BIN) + 2)).toEqual(['registry']);
    const unit = await read('systemd/tether-registry.service');
    expect(unit).not.toContain('--max-old-space-size');
    expect(unit).not.toMatch(/^Environment="?NODE_OPTIONS/m);
  });

  it('the Kubernetes registry containers, the Dockerfile example and the benches use the same arguments', async () => {
    const flags = await unitFlags();
    const containers = [...(await registryContainers('deploy/kubernetes/registry-sqlite.yaml')), ...(await registryContainers('deploy/kubernetes/registry-etcd.yaml'))];
    expect(containers).toHaveLength(2);
    for (const c of containers) {
      // tini in front, as the image's ENTRYPOINT (tini -- tether) has it.
      expect(c.command, c.name).toEqual(['tini', '--', 'node', ...flags, BIN]);
      expect(c.env?.some((e) => e.name === 'NODE_OPTIONS') ?? false).toBe(false);
    }
    const docker = (await read('Dockerfile')).replace(/\\\n#\s+/g, '');
    expect(docker).toMatch(new RegExp(`docker run -d --name tether-registry .*--entrypoint tini tether-sidecar -- node ${flags.join(' ')} ${BIN} registry `));
    expect(await read('README.md')).toContain(`--entrypoint tini \\\n  tether-sidecar:0.1.0 -- node ${flags.join(' ')} ${BIN} registry `);
    expect(deployedRegistryNodeArgs()).toEqual(flags);
  });

  it('this Node takes the flag and keeps the young generation within it', async () => {
    const flags = await unitFlags();
    const semiMb = Number(/--max-semi-space-size=(\d+)/.exec(flags.join(' '))?.[1]);
    // Keeps 600,000 objects alive through many scavenges: V8 grows the young generation as far as it may.
    const script = `const keep = []; for (let i = 0; i < 600000; i++) keep.push({ i, s: 'x' + i });
      const n = require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
      process.stdout.write(JSON.stringify({ newSpace: n.space_size, kept: keep.length }));`;
    const measure = async (f: string[]): Promise<{ newSpace: number; kept: number }> => {
      const { stdout } = await run(process.execPath, [...f, '-e', script], { env: { ...process.env, NODE_OPTIONS: '' } });
      return JSON.parse(stdout) as { newSpace: number; kept: number };
    };
    const [got, control] = await Promise.all([measure(flags), measure([])]);
    expect(got.kept).toBe(600_000);
    // About three semi-spaces at most (V8 rounds to its pages), and under what the same work grows it to without.
    expect(got.newSpace).toBeLessThanOrEqual(4 * semiMb * 2 ** 20);
    expect(got.newSpace).toBeLessThan(control.newSpace);
  });

  it('the registry started as the unit starts it runs with the flag and answers', async () => {
    const tmp = await createTempDir('registry-node-args');
    temps.push(tmp);
    const map: Record<string, string> = { [BIN]: cliMain(), '127.0.0.1:8470': '127.0.0.1:0', '/var/lib/tether-registry': join(tmp.path, 'data') };
    const [cmd, ...args] = (await execStart()).map((w) => map[w] ?? w);
    // `env node` runs this Node (first on PATH), as on a host where node is installed.
    const registry = spawnProc(cmd as string, args, { env: { PATH: `${join(process.execPath, '..')}:${process.env.PATH ?? ''}` } });
    procs.push(registry);
    const url = (await registry.waitForLog((r) => typeof r.url === 'string', 15_000)).url as string;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const cmdline = (await readFile(`/proc/${registry.child.pid}/cmdline`, 'utf8')).split('\0');
    expect(cmdline.slice(1, 1 + (await unitFlags()).length)).toEqual(await unitFlags());
    expect(await registry.stop()).toEqual({ code: 0, signal: null });
  });
});
