import { TetherError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;

/** The pattern a duration string must match (also used by the manifest's JSON Schema). */
export const DURATION_PATTERN = '^\\d+(\\.\\d+)?(ms|s|m|h|d)?$';

/**
 * Parses `500ms`, `10s`, `2m`, `1h`, `30d`, or a plain number of seconds
 * (number or digit string; decimals allowed, e.g. `1.5h`). Returns whole
 * milliseconds (rounded). Throws TetherError `duration.invalid` for anything
 * else: empty text, signs, spaces, unknown units, or a result beyond
 * Number.MAX_SAFE_INTEGER.
 */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new TetherError('duration.invalid', `invalid duration: ${input}`);
    return Math.round(input * 1000);
  }
  const m = DURATION_RE.exec(input);
  if (!m) throw new TetherError('duration.invalid', `invalid duration "${input}": use e.g. 500ms, 10s, 2m, 1h, 30d or seconds`);
  const ms = Math.round(Number(m[1]) * (UNIT_MS[m[2] ?? 's'] as number));
  if (!Number.isSafeInteger(ms)) throw new TetherError('duration.invalid', `duration "${input}" is too large`);
  return ms;
}

/** Formats milliseconds the short way (`1.5s`, `250ms`, `2m`), for logs and status. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000 || ms % 60_000 !== 0) return `${ms / 1000}s`;
  if (ms % 3_600_000 !== 0) return `${ms / 60_000}m`;
  return `${ms / 3_600_000}h`;
}
