import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { spawnTether, startRegistry, type Proc, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/** The test application (test/exec/fixtures/app.mjs) as an argv for `tether exec --`. */
export const APP = [process.execPath, join(import.meta.dirname, 'fixtures', 'app.mjs')];

/** A real registry process, a temp dir and `tether exec` processes started against it. */
export class ExecHarness {
  tmp!: TempDir;
  registry!: RegistryProc;
  client!: HttpRegistry;
  private readonly procs: Proc[] = [];
  private seq = 0;

  async start(name: string): Promise<void> {
    this.tmp = await createTempDir(name);
    this.registry = await startRegistry(join(this.tmp.path, 'registry'));
    this.client = new HttpRegistry({ url: this.registry.url });
  }

  /** A case directory with tether.yaml: upstream (tenant), agent (port 0, state), then `body`. */
  async manifest(tenant: string, body: string): Promise<{ dir: string; config: string }> {
    const dir = join(this.tmp.path, `case-${++this.seq}`);
    await mkdir(dir, { recursive: true });
    const config = join(dir, 'tether.yaml');
    await writeFile(config, `upstream:\n  url: ${this.registry.url}/v1.0/${tenant}\n  timeout: 1s\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${dir}/state\n${body}`);
    return { dir, config };
  }

  /** `tether exec --config CONFIG -- ...command` (killed after the test if still running). */
  exec(config: string, command: string[], env: Record<string, string> = {}): Proc {
    const proc = spawnTether(['exec', '--config', config, ...(command.length > 0 ? ['--', ...command] : [])], env);
    this.procs.push(proc);
    return proc;
  }

  /**
   * SIGTERM, so that tether stops its child (SIGKILL after 6 s); then SIGKILL
   * to every child it started, in case tether did not live to stop it.
   */
  async cleanup(): Promise<void> {
    const procs = this.procs.splice(0);
    await Promise.all(procs.map((p) => p.stop('SIGTERM')));
    for (const p of procs) {
      for (const { pid } of starts(p.stdout())) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // ESRCH: stopped and reaped already
        }
      }
    }
  }

  async stop(): Promise<void> {
    await this.cleanup();
    await this.client.close();
    await this.registry.stop();
    await this.tmp.remove();
  }
}

/** The START line's pid and env of the n-th start (0-based) in `stdout`. */
export function starts(stdout: string): Array<{ pid: number; env: Record<string, string> }> {
  return [...stdout.matchAll(/^START pid=(\d+) env=(.*)$/gm)].map((m) => ({ pid: Number(m[1]), env: JSON.parse(m[2] as string) as Record<string, string> }));
}

/** True while a process with this pid exists (a zombie counts as gone only once reaped). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
