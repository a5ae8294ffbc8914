import { unescape } from 'node:querystring';

/**
 * Query strings, kept in their original order and encoding so that next_href
 * can repeat them (spec section 4).
 *
 * Decoding is lenient like the original server's (`querystring`): `+` is a
 * space and a malformed escape is kept, not rejected. Only malformed escapes
 * in the path give `URI malformed`.
 *
 * A repeated parameter: `limit`, `marker`, `tag` and `wait` take the FIRST
 * occurrence (as URLSearchParams.get does); `type` passes every occurrence so
 * that the registry can reject the repetition (spec 9.3).
 */

export interface QueryPair {
  /** `name=value` exactly as received. */
  readonly raw: string;
  readonly name: string;
  readonly value: string;
}

/** The query parameter that may carry the auth token; never echoed back or logged. */
export const TOKEN_PARAM = 'x-auth-token';

const SAFE_MARKER_RE = /^[A-Za-z0-9\-:_./]*$/;

function decode(s: string): string {
  const t = s.indexOf('+') === -1 ? s : s.replace(/\+/g, ' ');
  return t.indexOf('%') === -1 ? t : unescape(t);
}

/** Parses `a=1&b=2` (no leading `?`). Empty pairs (`a=1&&b`) are skipped; `b` alone has value ''. */
export function parseQuery(qs: string): QueryPair[] {
  const pairs: QueryPair[] = [];
  if (qs === '') return pairs;
  for (const raw of qs.split('&')) {
    if (raw === '') continue;
    const eq = raw.indexOf('=');
    const name = decode(eq === -1 ? raw : raw.slice(0, eq));
    const value = eq === -1 ? '' : decode(raw.slice(eq + 1));
    pairs.push({ raw, name, value });
  }
  return pairs;
}

/** The first value of `name`, or undefined when absent. */
export function firstParam(pairs: readonly QueryPair[], name: string): string | undefined {
  for (const p of pairs) if (p.name === name) return p.value;
  return undefined;
}

/** Every value of `name`, in order. */
export function paramValues(pairs: readonly QueryPair[], name: string): string[] {
  const out: string[] = [];
  for (const p of pairs) if (p.name === name) out.push(p.value);
  return out;
}

function isTokenParam(name: string): boolean {
  return name.length === TOKEN_PARAM.length && name.toLowerCase() === TOKEN_PARAM;
}

/** The token passed as `?x-auth-token=` (any case), or undefined. */
export function tokenParam(pairs: readonly QueryPair[]): string | undefined {
  for (const p of pairs) if (isTokenParam(p.name)) return p.value;
  return undefined;
}

/** The raw query without `x-auth-token` pairs (for the 404 `requested_path`). */
export function publicQuery(rawQuery: string): string {
  if (!/auth-token/i.test(rawQuery)) return rawQuery;
  return parseQuery(rawQuery)
    .filter((p) => !isTokenParam(p.name))
    .map((p) => p.raw)
    .join('&');
}

/**
 * `{prefix}?{query}` for the next page: the original pairs in their order,
 * the first `marker` replaced in place by `nextMarker` (later repeats dropped,
 * so the link is unambiguous), or `marker` appended when there was none.
 * `x-auth-token` pairs are removed.
 */
export function nextHref(prefix: string, pairs: readonly QueryPair[], nextMarker: string): string {
  const marker = `marker=${SAFE_MARKER_RE.test(nextMarker) ? nextMarker : encodeURIComponent(nextMarker)}`;
  const parts: string[] = [];
  let placed = false;
  for (const p of pairs) {
    if (p.name === 'marker') {
      if (!placed) parts.push(marker);
      placed = true;
    } else if (!isTokenParam(p.name)) {
      parts.push(p.raw);
    }
  }
  if (!placed) parts.push(marker);
  return `${prefix}?${parts.join('&')}`;
}
