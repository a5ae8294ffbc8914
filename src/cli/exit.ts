import { TetherError } from '../lib/errors.js';
import { RegistryFault } from '../registry/faults.js';
import { UsageError } from './args.js';

/** Exit codes of `tether` (the only place errors become exit codes). */
export const EXIT = {
  ok: 0,
  /** A fault from the registry, or any other failure. */
  failure: 1,
  /** A mistake in the command line. */
  usage: 2,
  /** No reply from the registry (connection refused, DNS, timeout). */
  unreachable: 3,
} as const;

/** The exit code for an error that reached the top level. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof TetherError && (err.code === 'client.unreachable' || err.code === 'client.timeout')) return EXIT.unreachable;
  return EXIT.failure;
}

/**
 * The one stderr line (two for usage errors) for an error:
 * `error: <type> (<status>): <message>[: <details>]` for a fault (details are
 * left out when absent or equal to the message, as for many 400s), else
 * `error: <message>`.
 */
export function formatError(err: unknown): string {
  if (err instanceof RegistryFault) {
    const details = typeof err.details === 'string' ? err.details : err.details === undefined ? undefined : JSON.stringify(err.details);
    const tail = details === undefined || details === err.message ? '' : `: ${details}`;
    return `error: ${err.type} (${err.status}): ${oneLine(err.message)}${oneLine(tail)}\n`;
  }
  if (err instanceof UsageError) {
    const help = err.command ? `tether ${err.command} --help` : 'tether --help';
    return `error: ${oneLine(err.message)}\nrun '${help}' for usage\n`;
  }
  const message = err instanceof Error ? err.message : String(err);
  return `error: ${oneLine(message)}\n`;
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}
