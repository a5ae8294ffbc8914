import { isAlias, isMap, isScalar, isSeq, type Node } from 'yaml';
import type { ManifestIssue } from './issues.js';

/** More values than any real manifest has (500 services are ~8,000): past it, aliases are multiplying. */
const MAX_VALUES = 250_000;

type Where = (path: PropertyKey[]) => ManifestIssue;

/**
 * A YAML document's node tree as plain data, with `${VAR}` and
 * `${VAR:-default}` replaced from `env` in every string (`$${...}` stays
 * literal). Returns an issue (located by `where`) for each unset variable
 * without a default, for an alias without an anchor before it, for a key
 * that is not a scalar, for an alias inside the node it names, and for
 * aliases that expand past MAX_VALUES (the walk stops there).
 *
 * One walk over yaml's nodes instead of yaml's toJS plus a second walk over
 * its result: the expansion has to copy aliased values anyway (toJS shares
 * them), and one copy is the cheaper of the two at the agent's start.
 */
export function plainValue(root: unknown, env: NodeJS.ProcessEnv, where: Where): { value: unknown; issues: ManifestIssue[] } {
  const issues: ManifestIssue[] = [];
  // The last node to carry each anchor so far, in document order: what an alias names (YAML 1.2).
  const anchors = new Map<string, unknown>();
  // An alias inside the node it names would make the walk endless; `&a [*a]` is the smallest.
  const open = new Set<unknown>();
  let values = 0;
  let stopped = false;
  // Where the walk is, as a chain to the root: the array is only built for an issue, not at each value.
  const pathOf = (at: Step | null): PropertyKey[] => {
    const segs: PropertyKey[] = [];
    for (let s = at; s !== null; s = s.up) segs.push(s.seg);
    return segs.reverse();
  };
  const issue = (at: Step | null, message: string): void => void issues.push({ ...where(pathOf(at)), message });
  const stop = (at: Step | null, message: string): undefined => {
    if (!stopped) issue(at, message);
    stopped = true;
    return undefined;
  };
  // `copy`: inside an alias's copy, where anchors were already met at their place in the document.
  const walk = (node: unknown, at: Step | null, copy: boolean): unknown => {
    if (stopped) return undefined;
    if (++values > MAX_VALUES) return stop(at, `aliases expand this file to more than ${MAX_VALUES.toLocaleString('en')} values`);
    const anchor = (node as Node | null)?.anchor;
    if (anchor !== undefined && !copy) anchors.set(anchor, node);
    if (isScalar(node)) {
      const v = node.value;
      return typeof v === 'string' && v.includes('$') ? expandString(v, env, (message) => issue(at, message)) : v;
    }
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (target === undefined) return stop(at, `unresolved alias *${node.source}: no &${node.source} anchor before it`);
      if (open.has(target)) return stop(at, 'an alias refers to a node that contains it');
      return walk(target, at, true);
    }
    if (!isMap(node) && !isSeq(node)) return null;
    open.add(node);
    try {
      if (isSeq(node)) return node.items.map((item, i) => walk(item, { up: at, seg: i }, copy));
      const out: Record<string, unknown> = {};
      for (const pair of node.items) {
        if (!isScalar(pair.key)) return stop(at, 'a key must be a scalar (a string, number, boolean or null)');
        const keyAnchor = pair.key.anchor;
        if (keyAnchor !== undefined && !copy) anchors.set(keyAnchor, pair.key);
        const k = String(pair.key.value);
        const x = walk(pair.value, { up: at, seg: k }, copy);
        // A `__proto__` key stays a key, never the result's prototype.
        if (k === '__proto__') Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
        else out[k] = x;
      }
      return out;
    } finally {
      open.delete(node);
    }
  };
  return { value: walk(root, null, false), issues };
}

/** A step of the walk: the key or index, and the step above it (null at the root). */
interface Step {
  up: Step | null;
  seg: PropertyKey;
}

function expandString(v: string, env: NodeJS.ProcessEnv, unset: (message: string) => void): string {
  return v.replace(/\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (whole, escaped: string, name: string, def?: string) => {
    if (escaped) return whole.slice(1);
    const got = env[name];
    if (got !== undefined && got !== '') return got;
    if (def !== undefined) return def;
    unset(`environment variable ${name} is not set (use \${${name}:-default} for a default)`);
    return '';
  });
}
