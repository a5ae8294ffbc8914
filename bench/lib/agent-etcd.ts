import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { TetherError } from '../../src/lib/errors.js';
import { startServer, type Server } from './child.js';
import type { Cleanup } from './cleanup.js';

/**
 * The etcd side of the agent bench, done the etcd-native way with Debian's
 * `etcdctl` (ETCDCTL_BIN overrides it): one lease, keys attached to it, and
 * `etcdctl lease keep-alive` as the long-running client that keeps them.
 */

const ETCDCTL = process.env.ETCDCTL_BIN ?? '/usr/bin/etcdctl';
const ENV = { ...process.env, ETCDCTL_API: '3' };

/** etcd's default `--max-txn-ops` is 128: the largest txn `putLeased` may send. */
export const TXN_OPS = 125;

/**
 * Runs `etcdctl --endpoints URL ...args` with `input` on stdin; resolves with
 * its stdout. Rejects (TetherError `bench.etcdctl`, with stderr) on a non-zero exit.
 */
export function etcdctl(url: string, args: readonly string[], input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(ETCDCTL, ['--endpoints', url, ...args], { env: ENV, stdio: ['pipe', 'pipe', 'pipe'] });
    const [out, err]: [Buffer[], Buffer[]] = [[], []];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.once('error', (e) => reject(new TetherError('bench.etcdctl', `etcdctl ${args[0] ?? ''}: ${e.message}`, { cause: e })));
    child.once('close', (code) => {
      if (code === 0) return resolve(Buffer.concat(out).toString('utf8'));
      reject(new TetherError('bench.etcdctl', `etcdctl ${args.join(' ').slice(0, 80)}: exit ${code}: ${Buffer.concat(err).toString('utf8').trim()}`));
    });
    child.stdin.end(input);
  });
}

/** Grants a lease of `ttlSec`; resolves with its id in hex, as etcdctl prints and takes it. */
export async function grantLease(url: string, ttlSec: number): Promise<string> {
  const out = await etcdctl(url, ['lease', 'grant', String(ttlSec)]);
  const id = /lease ([0-9a-f]+) granted/.exec(out)?.[1];
  if (id === undefined) throw new TetherError('bench.etcdctl', `lease grant: unexpected output ${JSON.stringify(out)}`);
  return id;
}

/** The store's current revision (from `get -w json`'s header). */
export async function currentRevision(url: string): Promise<number> {
  const out = JSON.parse(await etcdctl(url, ['get', '/', '-w', 'json'])) as { header?: { revision?: number | string } };
  return Number(out.header?.revision);
}

/** How many keys start with `prefix`. */
export async function countKeys(url: string, prefix: string): Promise<number> {
  const out = JSON.parse(await etcdctl(url, ['get', prefix, '--prefix', '--keys-only', '--limit', '1', '-w', 'json'])) as { count?: number | string };
  return Number(out.count ?? 0);
}

/** A Go-quoted string (what etcdctl's txn parser unquotes): JSON's escaping is a subset of Go's. */
const goQuote = (s: string): string => JSON.stringify(s);

/**
 * Puts `entries` bound to `lease`, `TXN_OPS` per `etcdctl txn` (one process
 * and one transaction per batch, batches in sequence). Rejects when a txn fails.
 */
export async function putLeased(url: string, lease: string, entries: readonly (readonly [string, string])[]): Promise<void> {
  for (let i = 0; i < entries.length; i += TXN_OPS) {
    const puts = entries.slice(i, i + TXN_OPS).map(([k, v]) => `put --lease=${lease} ${goQuote(k)} ${goQuote(v)}`);
    // Non-interactive txn: compares, blank line, success ops, blank line, failure ops, blank line.
    const out = await etcdctl(url, ['txn'], `\n${puts.join('\n')}\n\n\n`);
    if (!out.startsWith('SUCCESS')) throw new TetherError('bench.etcdctl', `txn of ${puts.length} puts: ${out.slice(0, 200)}`);
  }
}

export interface Watch {
  /** Resolves with performance.now() at the moment the `count`-th PUT of a key under `prefix` was printed. */
  puts(prefix: string, count: number): Promise<number>;
  /** Stops the watch process; pending `puts` reject. */
  close(): Promise<void>;
}

/**
 * `etcdctl watch --prefix P --rev R` as a child (stopped by `cleanup`),
 * reading its PUT events as they are printed. Resolves once a PUT of
 * `sentinel` (a key under P the caller writes) has come through: from then
 * on the watch is streaming, so a later write is seen when it commits.
 */
export async function startWatch(cleanup: Cleanup, url: string, prefix: string, fromRevision: number, sentinel: () => Promise<unknown>): Promise<Watch> {
  const child = spawn(ETCDCTL, ['--endpoints', url, 'watch', '--prefix', prefix, '--rev', String(fromRevision)], { env: ENV, stdio: ['ignore', 'pipe', 'ignore'] });
  const gone = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const close = cleanup.add({ name: 'etcdctl watch', close: async () => void (child.kill('SIGTERM'), await gone), kill: () => void child.kill('SIGKILL') });
  const events: { key: string; at: number }[] = [];
  const waiters: { prefix: string; count: number; seen: number; resolve: (at: number) => void }[] = [];
  let put = false;
  createInterface({ input: child.stdout }).on('line', (line) => {
    // The simple format prints each event as three lines: PUT|DELETE, key, value.
    if (line === 'PUT') return void (put = true);
    if (!put) return;
    put = false;
    const at = performance.now();
    events.push({ key: line, at });
    for (const w of waiters) if (line.startsWith(w.prefix) && ++w.seen === w.count) w.resolve(at);
  });
  const watch: Watch = {
    puts: (p, count) =>
      new Promise<number>((resolve, reject) => {
        const past = events.filter((e) => e.key.startsWith(p));
        if (past.length >= count) return resolve((past[count - 1] as { at: number }).at);
        waiters.push({ prefix: p, count, seen: past.length, resolve });
        void gone.then(() => reject(new TetherError('bench.etcdctl', 'etcdctl watch exited')));
      }),
    close,
  };
  const ready = watch.puts(`${prefix}ready`, 1);
  await sentinel();
  await ready;
  return watch;
}

/**
 * `etcdctl lease keep-alive ID` as a long-running child (its output in
 * `dir/server.log`), ready once it printed its first "keepalived" line.
 */
export function startKeepAlive(cleanup: Cleanup, url: string, lease: string, dir: string): Promise<Server> {
  return startServer(cleanup, {
    name: 'etcdctl lease keep-alive',
    command: ETCDCTL,
    args: ['--endpoints', url, 'lease', 'keep-alive', lease],
    dir,
    url,
    ready: async () => (await readFile(join(dir, 'server.log'), 'utf8')).includes('keepalived'),
  });
}
