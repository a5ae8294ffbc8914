import { arch, cpus, loadavg, platform } from 'node:os';
import { formatTable } from '../../src/cli/table.js';
import type { Cpu } from './cpu.js';

/** What every bench prints: a readable table, then one machine-readable RESULT line. */

export type Metrics = Record<string, number | string>;

/** `tether bench on linux x64, 2 cores (AMD EPYC), node v20.20.2, etcd 3.4.23, store sqlite, load average 0.12 ...` */
export function machineLine(etcdVersion: string, store: string): string {
  const cpu = cpus();
  const model = cpu[0]?.model.trim() ?? 'unknown cpu';
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  return `tether bench on ${platform()} ${arch()}, ${cpu.length} cores (${model}), node ${process.version}, etcd ${etcdVersion}, store ${store}, load average ${load}`;
}

/** Fixed decimals for display and RESULT lines; NaN prints as `n/a`. */
export function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

/** Cores as a percentage of one core: 0.46 -> "46%". */
export const percent = (cores: number): string => `${fmt(cores * 100, 0)}%`;

/** Other processes using more than this many cores make a figure suspect (the box has 2). */
const BUSY_OTHERS = 0.2;

/** Prints a warning when other processes took a noticeable share of the CPU during `what`'s window. */
export function warnIfBusy(what: string, cpu: Cpu): void {
  if (cpu.other > BUSY_OTHERS) {
    process.stdout.write(`warning: other processes used ${percent(cpu.other)} of a core during ${what}: that figure is not representative\n`);
  }
}

/** a / b, NaN when b is 0 or either is not a number. */
export function ratio(a: number, b: number): number {
  return b !== 0 && Number.isFinite(a) && Number.isFinite(b) ? a / b : Number.NaN;
}

export function printTable(title: string, header: readonly string[], rows: readonly (readonly string[])[]): void {
  process.stdout.write(`\n${title}\n${formatTable(header, rows)}`);
}

/**
 * `RESULT heartbeats tether_per_s=17000 etcd_per_s=9000 ratio=1.89 node=v24.22.3` (numbers as
 * given, keys in order, then the Node the bench ran on: its servers and agents are spawned with
 * the same binary, and figures from two Nodes are not comparable).
 */
export function printResult(name: string, metrics: Metrics): void {
  const pairs = Object.entries({ ...metrics, node: process.version }).map(([k, v]) => `${k}=${typeof v === 'number' ? (Number.isFinite(v) ? String(v) : 'nan') : v}`);
  process.stdout.write(`RESULT ${name} ${pairs.join(' ')}\n`);
}

/** Rounds for RESULT lines: integers stay integers, others keep `digits` decimals. */
export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
