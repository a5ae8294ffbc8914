import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Op } from '../../src/store/store.js';
import { fmt } from './report.js';

/**
 * The SQLite store's group commit in isolation (no HTTP): `concurrency`
 * closed-loop writers, each a chain of txns of 10 durable puts, on a file
 * store with synchronous=FULL, with group commit off (one fsync per txn, the
 * store as it was) and on, interleaved round by round because the shared
 * disk's fsync time drifts. Run directly:
 *   node --import tsx bench/lib/queues-group-commit.ts [concurrency,...] [seconds per round] [rounds]
 */

export interface GroupCommitFigure {
  concurrency: number;
  /** Median txn/s over the rounds, group commit off and on. */
  offTxnPerS: number;
  onTxnPerS: number;
}

const PUTS_PER_TXN = 10;

/** Txns per second of one round on a fresh file store in a temp directory. */
async function round(concurrency: number, durationMs: number, groupCommit: boolean): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'tether-gc-bench-'));
  const store = openSqliteStore({ path: join(dir, 'store.db'), groupCommit });
  const value = JSON.stringify({ body: 'x'.repeat(100), ttl: 300 });
  let txns = 0;
  let seq = 0;
  const writer = async (w: number, until: number): Promise<void> => {
    while (performance.now() < until) {
      const ops: Op[] = [];
      for (let i = 0; i < PUTS_PER_TXN; i++) ops.push({ type: 'put', key: `/q/${w}/${(seq++).toString(36).padStart(8, '0')}`, value });
      await store.txn([], ops);
      txns++;
    }
  };
  const run = (ms: number): Promise<void[]> => Promise.all(Array.from({ length: concurrency }, (_, w) => writer(w, performance.now() + ms)));
  try {
    await run(100); // warm-up: statements, the WAL file
    txns = 0;
    const start = performance.now();
    await run(durationMs);
    return txns / ((performance.now() - start) / 1000);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Medians of `rounds` interleaved off/on rounds at one concurrency. */
export async function measureGroupCommit(concurrency: number, durationMs: number, rounds: number): Promise<GroupCommitFigure> {
  const off: number[] = [];
  const on: number[] = [];
  for (let i = 0; i < rounds; i++) {
    off.push(await round(concurrency, durationMs, false));
    on.push(await round(concurrency, durationMs, true));
  }
  return { concurrency, offTxnPerS: median(off), onTxnPerS: median(on) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[(s.length - 1) >> 1]!;
}

/** One line per figure, for the bench's output. */
export function groupCommitLine(f: GroupCommitFigure): string {
  return (
    `sqlite txns of ${PUTS_PER_TXN} puts, ${String(f.concurrency).padStart(3)} concurrent: ` +
    `one commit per txn ${fmt(f.offTxnPerS, 0)} txn/s, group commit ${fmt(f.onTxnPerS, 0)} txn/s ` +
    `(${fmt(f.onTxnPerS * PUTS_PER_TXN, 0)} puts/s), x${fmt(f.onTxnPerS / f.offTxnPerS)}`
  );
}

if (process.argv[1]?.endsWith('queues-group-commit.ts')) {
  const levels = (process.argv[2] ?? '1,8,32,128').split(',').map(Number);
  const seconds = Number(process.argv[3] ?? '1');
  const rounds = Number(process.argv[4] ?? '3');
  for (const c of levels) process.stdout.write(`${groupCommitLine(await measureGroupCommit(c, seconds * 1000, rounds))}\n`);
}
