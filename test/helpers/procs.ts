import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { inject } from 'vitest';

/** The CLI built once per test run by test/global-setup.ts. */
export function cliMain(): string {
  return inject('cliMain');
}

export interface Proc {
  child: ChildProcess;
  /** stderr lines (pino JSON logs) so far. */
  log: string[];
  /** stdout so far. */
  stdout(): string;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first parsed log record that `match` accepts. */
  waitForLog(match: (rec: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM (or `signal`), then SIGKILL after 6 s; resolves when it has exited. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `node <cli> ...args` with a clean environment plus `env`. */
export function spawnTether(args: string[], env: Record<string, string> = {}, cwd?: string): Proc {
  return spawnProc(process.execPath, [cliMain(), ...args], { env: { PATH: process.env.PATH ?? '', ...env }, ...(cwd ? { cwd } : {}) });
}

/** Runs any command as a Proc (`options.env` is its whole environment). */
export function spawnProc(command: string, args: string[], options: Omit<SpawnOptions, 'stdio'>): Proc {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  const records: Array<Record<string, unknown>> = [];
  const waiters: Array<{ match: (r: Record<string, unknown>) => boolean; resolve: (r: Record<string, unknown>) => void }> = [];
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    log.push(line);
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    records.push(rec);
    for (const w of [...waiters]) {
      if (w.match(rec)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(rec);
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => {
    child.once('exit', (code, signal) => r({ code, signal }));
    // Could not start (ENOENT, EACCES): no 'exit' follows.
    child.once('error', (err) => (log.push(`spawn failed: ${err.message}`), r({ code: null, signal: null })));
  });
  return {
    child,
    log,
    stdout: () => out,
    exited,
    waitForLog(match, timeoutMs = 10_000) {
      const seen = records.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`log line not seen in ${timeoutMs} ms; log:\n${log.join('\n')}`)), timeoutMs);
        void exited.then(({ code, signal }) => {
          clearTimeout(timer);
          reject(new Error(`process exited (${code ?? signal}) before the log line; log:\n${log.join('\n')}`));
        });
        waiters.push({
          match,
          resolve: (r) => {
            clearTimeout(timer);
            resolve(r);
          },
        });
      });
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const kill = setTimeout(() => child.kill('SIGKILL'), 6000);
      const r = await exited;
      clearTimeout(kill);
      return r;
    },
  };
}

export interface RegistryProc extends Proc {
  /** Server root, http://127.0.0.1:PORT */
  url: string;
  port: number;
}

/** Starts `tether registry` on 127.0.0.1:`port` (0 = any) with data in `data`, and waits until it listens. */
export async function startRegistry(data: string, port = 0, extra: string[] = []): Promise<RegistryProc> {
  const proc = spawnTether(['registry', '--listen', `127.0.0.1:${port}`, '--data', data, ...extra]);
  const rec = await proc.waitForLog((r) => typeof r.url === 'string');
  const url = rec.url as string;
  return { ...proc, url, port: Number(new URL(url).port) };
}

/** An HTTP probe target whose health a test flips. */
export interface Target {
  url: string;
  healthy: boolean;
  close(): Promise<void>;
}

export async function startTarget(healthy = true): Promise<Target> {
  const state = { healthy };
  const server: Server = createServer((_req, res) => {
    res.writeHead(state.healthy ? 200 : 503).end(state.healthy ? 'ok' : 'down');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/health`,
    get healthy() {
      return state.healthy;
    },
    set healthy(v: boolean) {
      state.healthy = v;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
