import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TetherError } from '../../src/lib/errors.js';
import type { Cleanup } from './cleanup.js';
import { processCpuSeconds } from './cpu.js';

/**
 * Server processes under test: spawned with their output in a log file (so
 * their logging costs us no CPU), probed until ready, stopped with SIGTERM
 * then SIGKILL, and registered with the Cleanup so an interrupted bench
 * leaves nothing running.
 */

/** A fresh temp dir, removed by `cleanup`. */
export function tempDir(cleanup: Cleanup, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `tether-bench-${prefix}-`));
  cleanup.add({
    name: dir,
    close: () => rm(dir, { recursive: true, force: true }),
    kill: () => rmSync(dir, { recursive: true, force: true }),
  });
  return dir;
}

export interface Server {
  /** `http://127.0.0.1:PORT` */
  url: string;
  pid: number;
  /** CPU seconds (user + system, all threads) the process has used so far. */
  cpuSeconds(): number;
  /** SIGTERM, then SIGKILL after 5 s; resolves once the process has exited. Idempotent. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** What it is, for messages: "etcd", "tether registry". */
  name: string;
  command: string;
  args: string[];
  /** Working dir of the child; its log goes to `${dir}/server.log`. */
  dir: string;
  url: string;
  /** Resolves true once the server answers; called until then. */
  ready(url: string): Promise<boolean>;
  timeoutMs?: number;
}

/**
 * Starts the server and waits until `ready` says so.
 * Fails (TetherError `bench.serverStart`, with the log's tail) when the
 * process cannot be spawned, exits early, or is not ready within the timeout.
 */
export async function startServer(cleanup: Cleanup, opts: StartOptions): Promise<Server> {
  const logPath = join(opts.dir, 'server.log');
  const log = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(opts.command, opts.args, { cwd: opts.dir, stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
  let exited: string | null = null;
  const gone = new Promise<void>((resolve) => {
    child.once('exit', (code, sig) => {
      exited = sig ?? `exit code ${code}`;
      resolve();
    });
    child.once('error', (err) => {
      exited = err.message;
      resolve();
    });
  });
  const stop = once(() => stopChild(child, gone));
  const forget = cleanup.add({ name: opts.name, close: stop, kill: () => void child.kill('SIGKILL') });
  const fail = async (why: string): Promise<never> => {
    await forget();
    throw new TetherError('bench.serverStart', `${opts.name} did not start (${why}): ${opts.command} ${opts.args.join(' ')}\n${tail(logPath)}`);
  };

  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    if (exited !== null) return fail(exited);
    if (await opts.ready(opts.url).catch(() => false)) break;
    if (Date.now() > deadline) return fail(`not ready after ${opts.timeoutMs ?? 15_000} ms`);
    await sleep(50);
  }
  const pid = child.pid ?? 0;
  return { url: opts.url, pid, cpuSeconds: () => processCpuSeconds(pid), stop: forget };
}

async function stopChild(child: ChildProcess, gone: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await gone;
  clearTimeout(timer);
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}

function tail(path: string): string {
  try {
    const text = readFileSync(path, 'utf8').trimEnd();
    return text === '' ? '(no output)' : text.split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}
