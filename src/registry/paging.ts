import type { Entry } from '../store/store.js';
import type { Ctx } from './context.js';
import type { Page } from './types.js';

/**
 * Reads entries under `prefix` from `from` (inclusive) in key order, keeping
 * those `keep` accepts, until `want` are kept or the range ends. Returns the kept entries.
 */
export async function scan(
  ctx: Ctx,
  prefix: string,
  from: string,
  want: number,
  keep: (e: Entry) => boolean = () => true,
): Promise<Entry[]> {
  const kept: Entry[] = [];
  let start = from;
  const chunk = Math.min(Math.max(want, 64), 1024);
  for (;;) {
    const { entries } = await ctx.store.range(prefix, { from: start, limit: chunk });
    for (const e of entries) {
      if (keep(e)) kept.push(e);
      if (kept.length >= want) return kept;
    }
    const last = entries[entries.length - 1];
    if (entries.length < chunk || !last) return kept;
    start = `${last.key}\u0000`;
  }
}

/** The list envelope of spec section 4 (next_href is the HTTP layer's). */
export function toPage<T>(values: T[], limit: number, marker: string | undefined, nextMarker: string | null): Page<T> {
  return {
    values,
    metadata: {
      count: values.length,
      limit,
      marker: marker === undefined || marker === '' ? null : marker,
      next_marker: nextMarker,
      next_href: null,
    },
  };
}
