import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { deployedAgentEnv, deployedAgentNodeArgs } from '../../bench/lib/agent-tether.js';
import { repoRoot } from '../helpers/clean-copy.js';

/**
 * The agent's V8 settings where it is deployed: systemd/tether.service caps
 * the young generation and the old generation through NODE_OPTIONS, the
 * Kubernetes sidecar and the Dockerfile's agent example say the same, the
 * registry keeps V8's defaults, the agent bench runs the agent with them, and
 * the running Node accepts them from NODE_OPTIONS and sizes its heap by them.
 */

const run = promisify(execFile);
const read = (path: string): Promise<string> => readFile(join(repoRoot, path), 'utf8');

/** The value of `Environment=NODE_OPTIONS=...` in a unit, or undefined. */
function unitNodeOptions(unit: string): string | undefined {
  return /^Environment="?NODE_OPTIONS=([^"\n]*)"?$/m.exec(unit)?.[1];
}

interface Container {
  name: string;
  args?: string[];
  env?: Array<{ name: string; value?: string }>;
}

/** Every container (init ones too) of the Deployments in a manifest file. */
async function containers(path: string): Promise<Container[]> {
  const docs = parseAllDocuments(await read(path)).map((d) => d.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: Container[]; initContainers?: Container[] } } } });
  return docs.filter((d) => d.kind === 'Deployment').flatMap((d) => [...(d.spec?.template?.spec?.initContainers ?? []), ...(d.spec?.template?.spec?.containers ?? [])]);
}

describe('the agent node options', () => {
  it('systemd/tether.service caps the young and the old generation; the registry unit does not', async () => {
    expect(unitNodeOptions(await read('systemd/tether.service'))).toMatch(/^--max-semi-space-size=\d+ --max-old-space-size=\d+$/);
    expect(unitNodeOptions(await read('systemd/tether-registry.service'))).toBeUndefined();
  });

  it('the Kubernetes agent container and the Dockerfile agent example set the same NODE_OPTIONS', async () => {
    const value = unitNodeOptions(await read('systemd/tether.service'));
    const agents = (await containers('deploy/kubernetes/app-with-sidecar.yaml')).filter((c) => c.args?.[0] === 'agent');
    expect(agents.map((c) => c.name)).toEqual(['tether']);
    expect(agents[0]?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value).toBe(value);
    const dockerfile = await read('Dockerfile');
    const agentRun = /docker run -d --name tether-agent[^\n]*\n#\s+([^\n]*)/.exec(dockerfile)?.[1] ?? '';
    expect(agentRun).toContain(`-e NODE_OPTIONS="${value}" tether-sidecar agent`);
  });

  it("the agent's unit, its Kubernetes container, the Dockerfile example and the bench set the same malloc threshold", async () => {
    const unit = await read('systemd/tether.service');
    const value = /^Environment=MALLOC_MMAP_THRESHOLD_=(\d+)$/m.exec(unit)?.[1];
    // At most V8's largest zone segment (32 KiB): what its compilers free must go back to the system.
    expect(Number(value)).toBeGreaterThan(0);
    expect(Number(value)).toBeLessThanOrEqual(32 * 1024);
    expect(await read('systemd/tether-registry.service')).not.toContain('MALLOC_');
    const [agent] = (await containers('deploy/kubernetes/app-with-sidecar.yaml')).filter((c) => c.args?.[0] === 'agent');
    expect(agent?.env?.find((e) => e.name === 'MALLOC_MMAP_THRESHOLD_')?.value).toBe(value);
    const dockerfile = await read('Dockerfile');
    expect(/docker run -d --name tether-agent[^\n]*\n#\s+([^\n]*)/.exec(dockerfile)?.[1]).toContain(`-e MALLOC_MMAP_THRESHOLD_=${value} `);
    expect(deployedAgentEnv()).toEqual({ MALLOC_MMAP_THRESHOLD_: value });
  });

  it('the agent bench runs the agent with the unit node options', async () => {
    const value = unitNodeOptions(await read('systemd/tether.service')) as string;
    expect(deployedAgentNodeArgs()).toEqual(value.split(' '));
  });

  it('this Node accepts the options from NODE_OPTIONS and keeps the young generation within them', async () => {
    const value = unitNodeOptions(await read('systemd/tether.service')) as string;
    const semiMb = Number(/--max-semi-space-size=(\d+)/.exec(value)?.[1]);
    // Keeps 400,000 objects alive through many scavenges: V8 grows the young generation as far as it may (32 MB here by default).
    const script = `const keep = []; for (let i = 0; i < 400000; i++) keep.push({ i, s: 'x' + i });
      const n = require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
      process.stdout.write(JSON.stringify({ newSpace: n.space_size, kept: keep.length }));`;
    const measure = async (nodeOptions: string): Promise<{ newSpace: number; kept: number }> => {
      const { stdout } = await run(process.execPath, ['-e', script], { env: { ...process.env, NODE_OPTIONS: nodeOptions } });
      return JSON.parse(stdout) as { newSpace: number; kept: number };
    };
    const [got, control] = await Promise.all([measure(value), measure('')]);
    expect(got.kept).toBe(400_000);
    // About three semi-spaces (Node's documentation of the flag; V8 rounds to its pages, so a little more), and
    // well under what the same work grows it to without the flag.
    expect(got.newSpace).toBeLessThanOrEqual(4 * semiMb * 2 ** 20);
    expect(got.newSpace).toBeLessThan(control.newSpace / 2);
  });

  it('this Node takes the old generation cap from NODE_OPTIONS: the heap limit is the cap plus the young generation', async () => {
    const value = unitNodeOptions(await read('systemd/tether.service')) as string;
    const oldMb = Number(/--max-old-space-size=(\d+)/.exec(value)?.[1]);
    const script = "process.stdout.write(String(require('v8').getHeapStatistics().heap_size_limit))";
    const limit = async (nodeOptions: string): Promise<number> => {
      const { stdout } = await run(process.execPath, ['-e', script], { env: { ...process.env, NODE_OPTIONS: nodeOptions } });
      return Number(stdout) / 2 ** 20;
    };
    const [got, control] = await Promise.all([limit(value), limit('')]);
    // V8 adds the young generation (3 semi-spaces: 6 MB here, rounded to its pages) to the old generation's cap.
    expect(got).toBeGreaterThanOrEqual(oldMb);
    expect(got).toBeLessThanOrEqual(oldMb + 16);
    // Without it V8 sizes the heap from the host's memory (about 4 GB on this 24 GB machine).
    expect(control).toBeGreaterThan(got);
  });
});
