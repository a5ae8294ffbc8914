import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { spawnTether, startRegistry, type Proc, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/** Issue 18 item 6: a killed agent leaves nothing behind (temp files, check process groups). */

let tmp: TempDir;
let registry: RegistryProc;
let client: HttpRegistry;
const procs: Proc[] = [];

beforeAll(async () => {
  tmp = await createTempDir('agent-leftovers');
  registry = await startRegistry(join(tmp.path, 'registry'));
  client = new HttpRegistry({ url: registry.url });
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop('SIGKILL')));
  await client.close();
  await registry.stop();
  await tmp.remove();
});

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function agentWith(name: string, body: string): Promise<{ proc: Proc; dir: string }> {
  const t = `${name}-${Date.now()}`;
  await client.setConfig(t, '/app/level', { value: 'info' });
  const dir = join(tmp.path, name);
  await mkdir(join(dir, 'out'), { recursive: true });
  const config = join(dir, 'tether.yaml');
  await writeFile(config, `upstream:\n  url: ${registry.url}/v1.0/${t}\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${dir}/state\n${body}`);
  return { dir, proc: await started(spawnTether(['agent', '--config', config])) };
}

async function started(proc: Proc): Promise<Proc> {
  procs.push(proc);
  await proc.waitForLog((r) => r.msg === 'agent started');
  return proc;
}

describe('a killed agent leaves nothing behind', () => {
  it('removes temp files of an earlier run at start (ours by name only)', async () => {
    const dir = join(tmp.path, 'temps');
    await mkdir(join(dir, 'out'), { recursive: true });
    await writeFile(join(dir, 'out', '.level.tether-Ab_-12'), 'half');
    await writeFile(join(dir, 'out', '.level.tether-toolong'), 'not ours');
    await writeFile(join(dir, 'out', '.other.tether-Ab_-12'), 'another file');
    const { dir: d } = await agentWith('temps', `files:\n  - path: out/level\n    from: { key: /app/level }\n`);
    expect(d).toBe(dir);
    await expect.poll(() => readFile(join(dir, 'out', 'level'), 'utf8').catch(() => null), { timeout: 5000 }).toBe('info');
    expect((await readdir(join(dir, 'out'))).sort()).toEqual(['.level.tether-toolong', '.other.tether-Ab_-12', 'level']);
  });

  it.each(['SIGKILL', 'SIGTERM'] as const)('a running check process group (and its child) dies with the agent on %s', async (signal) => {
    const pids = join(tmp.path, `pids-${signal}`);
    const { proc } = await agentWith(
      `group-${signal.toLowerCase()}`,
      `services:\n  - id: slow-check\n    check:\n      exec: [/bin/sh, -c, "sleep 300 & echo $$ $! > ${pids}; wait"]\n      timeout: 60s\n      interval: 100s\n`,
    );
    await expect.poll(() => readFile(pids, 'utf8').catch(() => ''), { timeout: 5000 }).toMatch(/^\d+ \d+\n$/);
    const [shell, sleeper] = (await readFile(pids, 'utf8')).trim().split(' ').map(Number) as [number, number];
    expect(alive(shell) && alive(sleeper)).toBe(true);
    await proc.stop(signal);
    await expect.poll(() => alive(shell) || alive(sleeper), { timeout: 5000 }).toBe(false);
  });
});
