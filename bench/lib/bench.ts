import type { ParseArgsConfig } from 'node:util';
import { TetherError } from '../../src/lib/errors.js';
import type { Cleanup } from './cleanup.js';

/** The command line every bench shares (see run.ts for the help text). */
export const benchOptions = {
  store: { type: 'string' },
  'etcd-transport': { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  services: { type: 'string' },
  shape: { type: 'string' },
  rounds: { type: 'string' },
  'delay-ms': { type: 'string' },
  'registry-node-args': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export type BenchOptions = { [K in keyof typeof benchOptions]?: (typeof benchOptions)[K]['type'] extends 'boolean' ? boolean : string };

export interface BenchContext {
  cleanup: Cleanup;
  /** Aborted on SIGINT/SIGTERM; loops stop at their next step. */
  signal: AbortSignal;
  options: BenchOptions;
}

/** A bench prints its table and RESULT line; it rejects (exit 1) when it cannot measure or saw errors. */
export type Bench = (ctx: BenchContext) => Promise<void>;

/** A positive number option, or `fallback` when absent; TetherError `bench.usage` when malformed. */
export function numberOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new TetherError('bench.usage', `--${name} must be a positive number, got "${value}"`);
  return n;
}

/** The registry's node flags from `--registry-node-args "--cpu-prof --cpu-prof-dir=/tmp/prof"`. */
export function registryNodeArgs(options: BenchOptions): string[] {
  return (options['registry-node-args'] ?? '').split(/\s+/).filter((a) => a !== '');
}
