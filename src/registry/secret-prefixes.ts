import { faults } from './faults.js';

/**
 * Secret prefixes (issue 19 item 7), per tenant and at run time: the tenant's
 * configuration value under `SECRET_PREFIXES_KEY` holds a JSON array of key
 * prefixes, e.g. `["/prod/db/", "/secrets/"]`. A configuration key that
 * starts with one of them is secret: its events say that it changed, never
 * its value (`old_value`/`new_value` null, `secret: true`), so the value
 * reaches no event feed, `tether events`, hook, event route, queue or worker.
 * Reading the key itself (GET) still returns it: that is how an agent gets it.
 *
 * A configuration value rather than a new route: it works through every
 * client, the CLI (`tether config set`) and `tether dev` unchanged, it is read
 * in the same store round trip as the value being written, and changing it is
 * itself an event, so agents learn of it from the feed. The marker key itself
 * is never secret (it holds names, not values).
 */
export const SECRET_PREFIXES_KEY = '/_tether/secret_prefixes';

const MAX_PREFIXES = 100;

/** The prefixes of a stored marker value; a value that is not a list of strings (written before validation) counts as none. */
export function parseSecretPrefixes(value: string | null | undefined): string[] {
  if (value === null || value === undefined) return [];
  try {
    const v: unknown = JSON.parse(value);
    return Array.isArray(v) ? v.filter((p): p is string => typeof p === 'string' && p !== '') : [];
  } catch {
    return [];
  }
}

/** Checks a value about to be written under the marker key: 400 on anything but a JSON array of 0..100 non-empty strings. */
export function checkSecretPrefixesValue(value: string): void {
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch {
    v = undefined;
  }
  const ok = Array.isArray(v) && v.length <= MAX_PREFIXES && v.every((p) => typeof p === 'string' && p.length > 0);
  if (!ok) throw faults.validation('value', `Secret prefixes must be a JSON array of up to ${MAX_PREFIXES} non-empty strings, e.g. ["/prod/db/"]`);
}

/** True when configuration key `id` is secret under `prefixes`. */
export function isSecretKey(prefixes: readonly string[], id: string): boolean {
  if (id === SECRET_PREFIXES_KEY) return false;
  for (const p of prefixes) if (id.startsWith(p)) return true;
  return false;
}

/**
 * Unmarking: a value written while its key was secret must not reach the feed
 * later as an event's `old_value` once the marker no longer covers it. The
 * tenant keeps every prefix ever removed from the marker (keys.unmarkedSecrets,
 * a JSON array), rewritten in the same transaction as the marker, so that key's
 * revision is the last unmarking. A value last written before it under one of
 * those prefixes may have been secret: its `old_value` is withheld. This
 * over-withholds (a value written while its prefix was already unmarked,
 * before a later unmarking) and never leaks.
 */
export function unmarkedBy(oldMarker: string | null | undefined, newMarker: string | null): string[] {
  const kept = new Set(parseSecretPrefixes(newMarker));
  return parseSecretPrefixes(oldMarker).filter((p) => !kept.has(p));
}

/** The unmarked-prefixes value after `removed` leave the marker, or null when nothing new was removed. */
export function withUnmarked(history: string | null | undefined, removed: readonly string[]): string | null {
  if (removed.length === 0) return null;
  return JSON.stringify([...new Set([...parseSecretPrefixes(history), ...removed])].sort());
}

/** True when `previous` (the stored value of key `id`) may have been written while `id` was secret. */
export function mayHaveBeenSecret(
  history: { value: string; modRevision: number } | undefined,
  id: string,
  previous: { modRevision: number } | undefined,
): boolean {
  if (!history || !previous || previous.modRevision >= history.modRevision) return false;
  return isSecretKey(parseSecretPrefixes(history.value), id);
}
