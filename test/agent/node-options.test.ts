import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { deployedAgentEnv, deployedAgentNodeArgs } from '../../bench/lib/agent-tether.js';
import { repoRoot } from '../helpers/clean-copy.js';
import { cliMain, spawnProc, startRegistry, type Proc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * The agent's V8 settings where it is deployed: systemd/tether.service caps
 * the young generation and the old generation with node's arguments (not
 * NODE_OPTIONS, which the agent's checks, hooks and actions would inherit),
 * the Kubernetes sidecar and the Dockerfile's agent example say the same, the
 * registry keeps V8's default old generation, the agent bench runs the agent with them, the
 * running Node sizes its heap by them, and a check the agent started that way
 * runs with V8's defaults.
 */

const run = promisify(execFile);
const read = (path: string): Promise<string> => readFile(join(repoRoot, path), 'utf8');

/** A unit's ExecStart, split into words. */
function execStart(unit: string): string[] {
  return (/^ExecStart=(.*)$/m.exec(unit)?.[1] ?? '').trim().split(/\s+/);
}

/** Every `Environment=NAME=VALUE` of a unit (NODE_OPTIONS too, were one set). */
function unitEnv(unit: string): Record<string, string> {
  return Object.fromEntries([...unit.matchAll(/^Environment="?([A-Za-z_]\w*)=([^"\n]*)"?$/gm)].map((m) => [m[1], m[2]]));
}

/** The agent unit's node flags, space-separated. */
async function unitFlags(): Promise<string> {
  const words = execStart(await read('systemd/tether.service'));
  return words.slice(2, words.indexOf('/usr/local/bin/tether')).join(' ');
}

/** The Dockerfile's agent example (its two comment lines, joined). */
async function dockerAgentRun(): Promise<string> {
  const m = /docker run -d --name tether-agent([^\n]*)\n#\s+([^\n]*)/.exec(await read('Dockerfile'));
  return `${m?.[1] ?? ''} ${m?.[2] ?? ''}`;
}

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string }>;
}

/** Every container (init ones too) of the Deployments in a manifest file. */
async function containers(path: string): Promise<Container[]> {
  const docs = parseAllDocuments(await read(path)).map((d) => d.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: Container[]; initContainers?: Container[] } } } });
  return docs.filter((d) => d.kind === 'Deployment').flatMap((d) => [...(d.spec?.template?.spec?.initContainers ?? []), ...(d.spec?.template?.spec?.containers ?? [])]);
}

const temps: TempDir[] = [];
const procs: Proc[] = [];
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop('SIGKILL')));
  await Promise.all(temps.map((t) => t.remove()));
});

describe('the agent node options', () => {
  it('systemd/tether.service gives node the young and the old generation caps as arguments; the registry unit no old generation cap', async () => {
    const unit = await read('systemd/tether.service');
    expect(execStart(unit).slice(0, 2)).toEqual(['/usr/bin/env', 'node']);
    expect(await unitFlags()).toMatch(/^--max-semi-space-size=\d+ --max-old-space-size=\d+$/);
    expect(execStart(unit).slice(4)).toEqual(['/usr/local/bin/tether', 'agent', '--config', '/etc/tether/tether.yaml']);
    expect(unit).not.toMatch(/^Environment="?NODE_OPTIONS/m);
    // The registry's unit caps only its young generation (test/deploy/registry-node-args.test.ts).
    const registry = await read('systemd/tether-registry.service');
    expect(registry).not.toContain('--max-old-space-size');
    expect(registry).not.toMatch(/^Environment="?NODE_OPTIONS/m);
  });

  it('the Kubernetes agent container and the Dockerfile agent example give node the same arguments, and set no NODE_OPTIONS', async () => {
    const flags = (await unitFlags()).split(' ');
    const all = await containers('deploy/kubernetes/app-with-sidecar.yaml');
    const agents = all.filter((c) => c.args?.[0] === 'agent');
    expect(agents.map((c) => c.name)).toEqual(['tether']);
    // tini in front, as the image's ENTRYPOINT (tini -- tether) has it.
    expect(agents[0]?.command).toEqual(['tini', '--', 'node', ...flags, '/usr/local/bin/tether']);
    for (const c of all) expect(c.env?.some((e) => e.name === 'NODE_OPTIONS') ?? false, c.name).toBe(false);
    expect(await read('Dockerfile')).toContain('ENTRYPOINT ["tini", "--", "tether"]');
    const agentRun = await dockerAgentRun();
    expect(agentRun).toContain(`--entrypoint tini tether-sidecar -- node ${flags.join(' ')} /usr/local/bin/tether agent --config`);
    expect(agentRun).not.toContain('NODE_OPTIONS');
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
    expect(await dockerAgentRun()).toContain(`-e MALLOC_MMAP_THRESHOLD_=${value} `);
    expect(deployedAgentEnv()).toEqual({ MALLOC_MMAP_THRESHOLD_: value });
  });

  it("the agent bench runs the agent with the unit's node arguments", async () => {
    expect(deployedAgentNodeArgs()).toEqual((await unitFlags()).split(' '));
  });

  it('this Node takes the flags as arguments and keeps the young generation within them', async () => {
    const value = await unitFlags();
    const semiMb = Number(/--max-semi-space-size=(\d+)/.exec(value)?.[1]);
    // Keeps 400,000 objects alive through many scavenges: V8 grows the young generation as far as it may (32 MB here by default).
    const script = `const keep = []; for (let i = 0; i < 400000; i++) keep.push({ i, s: 'x' + i });
      const n = require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
      process.stdout.write(JSON.stringify({ newSpace: n.space_size, kept: keep.length }));`;
    const measure = async (flags: string): Promise<{ newSpace: number; kept: number }> => {
      const { stdout } = await run(process.execPath, [...flags.split(' ').filter(Boolean), '-e', script], { env: { ...process.env, NODE_OPTIONS: '' } });
      return JSON.parse(stdout) as { newSpace: number; kept: number };
    };
    const [got, control] = await Promise.all([measure(value), measure('')]);
    expect(got.kept).toBe(400_000);
    // About three semi-spaces (Node's documentation of the flag; V8 rounds to its pages, so a little more), and
    // well under what the same work grows it to without the flag.
    expect(got.newSpace).toBeLessThanOrEqual(4 * semiMb * 2 ** 20);
    expect(got.newSpace).toBeLessThan(control.newSpace / 2);
  });

  it('this Node takes the old generation cap as an argument: the heap limit is the cap plus the young generation', async () => {
    const value = await unitFlags();
    const oldMb = Number(/--max-old-space-size=(\d+)/.exec(value)?.[1]);
    const script = "process.stdout.write(String(require('v8').getHeapStatistics().heap_size_limit))";
    const limit = async (flags: string): Promise<number> => {
      const { stdout } = await run(process.execPath, [...flags.split(' ').filter(Boolean), '-e', script], { env: { ...process.env, NODE_OPTIONS: '' } });
      return Number(stdout) / 2 ** 20;
    };
    const [got, control] = await Promise.all([limit(value), limit('')]);
    // V8 adds the young generation (3 semi-spaces: 6 MB here, rounded to its pages) to the old generation's cap.
    expect(got).toBeGreaterThanOrEqual(oldMb);
    expect(got).toBeLessThanOrEqual(oldMb + 16);
    // Without it V8 sizes the heap from the host's memory (about 4 GB on this 24 GB machine).
    expect(control).toBeGreaterThan(got);
  });

  it("a check run by an agent started as the unit starts it has V8's defaults: no agent flags in its NODE_OPTIONS", async () => {
    const unit = await read('systemd/tether.service');
    const oldMb = Number(/--max-old-space-size=(\d+)/.exec(await unitFlags())?.[1]);
    const tmp = await createTempDir('node-options');
    temps.push(tmp);
    const registry = await startRegistry(join(tmp.path, 'registry'));
    procs.push(registry);
    const seen = join(tmp.path, 'seen.json');
    // The check records what it was given, then passes.
    const script = `require('fs').writeFileSync(${JSON.stringify(seen)}, JSON.stringify({ nodeOptions: process.env.NODE_OPTIONS ?? null, limit: require('v8').getHeapStatistics().heap_size_limit }))`;
    const etc = join(tmp.path, 'etc');
    await mkdir(etc);
    const manifest = join(etc, 'tether.yaml');
    const check = JSON.stringify([process.execPath, '-e', script]);
    await writeFile(manifest, `upstream: { url: "${registry.url}/v1.0/t1" }\nagent: { listen: "127.0.0.1:0", state_dir: ${join(tmp.path, 'state')} }\nservices:\n  - { id: node-check, check: { exec: ${check}, interval: 200ms } }\n`);
    // ExecStart as written (`env node` from PATH: this Node) with the unit's Environment= lines, paths mapped.
    const map: Record<string, string> = { '/usr/local/bin/tether': cliMain(), '/etc/tether/tether.yaml': manifest };
    const [cmd, ...args] = execStart(unit).map((w) => map[w] ?? w);
    const agent = spawnProc(cmd as string, args, { env: { ...unitEnv(unit), PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` } });
    procs.push(agent);
    await agent.waitForLog((r) => r.msg === 'agent started', 15_000);
    // The agent itself runs with the caps ...
    const cmdline = (await readFile(`/proc/${agent.child.pid}/cmdline`, 'utf8')).split('\0');
    expect(cmdline).toEqual(expect.arrayContaining((await unitFlags()).split(' ')));
    // ... and its check does not: no flag in its environment, and V8 sizes its heap from the host.
    const got = await vi.waitFor(async () => JSON.parse(await readFile(seen, 'utf8')) as { nodeOptions: string | null; limit: number }, { timeout: 15_000, interval: 100 });
    expect(got.nodeOptions ?? '').not.toContain('--max-');
    expect(got.limit / 2 ** 20).toBeGreaterThan(oldMb + 16);
  });
});
