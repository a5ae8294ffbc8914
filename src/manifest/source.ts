import { CORE_SCHEMA, loadAll, YAMLException } from 'js-yaml';
import { dottedPath, type ManifestIssue } from './issues.js';
import { LineIndex, PositionRecorder, type PosNode } from './positions.js';

/** A parsed YAML file that can say where any path of it is. */
export interface SourceFile {
  file: string;
  /** The document as plain data; undefined for an empty file or after a syntax error. */
  value: unknown;
  /** Where the document's nodes start (see positions.ts). */
  root: PosNode | undefined;
  lines: LineIndex;
}

/**
 * Parses one YAML document with the 1.2 core schema (no merge keys, no
 * timestamps). Returns the source and its syntax issues: the first syntax
 * error (a duplicate key is one), or js-yaml's warnings and a second
 * document. Never throws for bad YAML. With `depth`, positions are recorded
 * only that many levels below the root (see PositionRecorder, and `pinned`).
 */
export function parseSource(file: string, text: string, depth = Number.POSITIVE_INFINITY): { source: SourceFile; issues: ManifestIssue[] } {
  // js-yaml drops a BOM itself; drop it first so that its offsets are offsets into `body`.
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = new LineIndex(body);
  const recorder = new PositionRecorder(body, depth);
  const source: SourceFile = { file, value: undefined, root: undefined, lines };
  const at = (offset: number, message: string): ManifestIssue => ({ file, ...lines.position(offset), path: '', message });
  const issue = (e: YAMLException): ManifestIssue => at(e.mark?.position ?? 0, e.reason.split('\n')[0] ?? e.reason);
  // Warnings (an unknown %directive, under-indented flow content) are issues, as they were with `yaml`.
  const issues: ManifestIssue[] = [];
  let docs: unknown[];
  try {
    // loadAll, not load: load rejects a second document without saying where it starts.
    docs = loadAll(body, null, { schema: CORE_SCHEMA, filename: file, listener: recorder.listener, onWarning: (w) => issues.push(issue(w)) });
  } catch (err) {
    if (!(err instanceof YAMLException)) throw err;
    return { source, issues: [issue(err)] };
  }
  const [first, second] = recorder.documents;
  if (docs.length > 1 && first !== undefined && second !== undefined) {
    issues.push(at(nextContent(body, first.end), 'expected a single YAML document, but found more (--- starts another)'));
  }
  return { source: { ...source, value: docs[0], root: first }, issues };
}

/**
 * The position of `path` in the file: the node itself, or for a key that is
 * missing, the nearest existing parent. With `key`, the position of that key
 * inside the map at `path` (for unknown keys).
 */
export function locate(src: SourceFile, path: ReadonlyArray<PropertyKey>, key?: string): ManifestIssue {
  let node = src.root;
  let at = node?.start ?? 0;
  let found = true;
  for (const seg of path) {
    const next = typeof seg === 'symbol' ? undefined : node?.child(seg);
    if (next === undefined) {
      found = false;
      break;
    }
    node = next;
    at = next.start;
  }
  if (key !== undefined && found) at = node?.keyStart(key) ?? at;
  return { file: src.file, ...src.lines.position(at), path: dottedPath(key === undefined ? path : [...path, key]), message: '' };
}

/** Whether `path` has a recorded node of its own in the file (so `locate` finds it, not a parent). */
export function pinned(src: SourceFile, path: ReadonlyArray<PropertyKey>): boolean {
  let node = src.root;
  for (const seg of path) {
    node = typeof seg === 'symbol' ? undefined : node?.child(seg);
    if (node === undefined) return false;
  }
  return node !== undefined;
}

/** The first offset at or after `from` that is not a blank or a comment. */
function nextContent(text: string, from: number): number {
  const m = /^(?:\s|#[^\n]*)*/.exec(text.slice(from));
  return from + (m?.[0].length ?? 0);
}

/** More values than any real manifest has (500 services are ~8,000): past it, aliases are multiplying. */
const MAX_VALUES = 250_000;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string of `value` from
 * `env`; `$${...}` stays literal. Returns the expanded value and an issue
 * (located by `where`) for each unset variable without a default, for an
 * alias cycle, or for aliases that expand past MAX_VALUES (the walk stops).
 */
export function expandEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  where: (path: PropertyKey[]) => ManifestIssue,
  path: PropertyKey[] = [],
): { value: unknown; issues: ManifestIssue[] } {
  const issues: ManifestIssue[] = [];
  // YAML aliases share nodes: `&a [*a]` makes a cycle, and a few lines of nested aliases can stand
  // for billions of values. js-yaml builds both without complaint; this walk copies, so it stops.
  const open = new Set<object>();
  let values = 0;
  let stopped = false;
  // Where the walk is, as a chain to the root: the array is only built for an issue (a manifest of
  // 500 services has ~8,000 values; copying the path at each one was most of this walk's time).
  const pathOf = (at: Step | null): PropertyKey[] => {
    const segs: PropertyKey[] = [];
    for (let s = at; s !== null; s = s.up) segs.push(s.seg);
    return [...path, ...segs.reverse()];
  };
  const stop = (at: Step | null, message: string): undefined => {
    if (!stopped) issues.push({ ...where(pathOf(at)), message });
    stopped = true;
    return undefined;
  };
  const walk = (v: unknown, at: Step | null): unknown => {
    if (stopped) return undefined;
    if (++values > MAX_VALUES) return stop(at, `aliases expand this file to more than ${MAX_VALUES.toLocaleString('en')} values`);
    if (typeof v === 'string') return v.includes('$') ? expandString(v, env, () => pathOf(at), where, issues) : v;
    if (typeof v !== 'object' || v === null) return v;
    if (open.has(v)) return stop(at, 'an alias refers to a node that contains it');
    open.add(v);
    try {
      if (Array.isArray(v)) {
        const out: unknown[] = new Array(v.length);
        for (let i = 0; i < v.length; i++) out[i] = walk(v[i], { up: at, seg: i });
        return out;
      }
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        const x = walk((v as Record<string, unknown>)[k], { up: at, seg: k });
        // A `__proto__` key stays a key (as js-yaml made it), never the copy's prototype.
        if (k === '__proto__') Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
        else out[k] = x;
      }
      return out;
    } finally {
      open.delete(v);
    }
  };
  return { value: walk(value, null), issues };
}

/** A step of expandEnv's walk: the key or index, and the step above it (null at the root). */
interface Step {
  up: Step | null;
  seg: PropertyKey;
}

function expandString(v: string, env: NodeJS.ProcessEnv, pathOf: () => PropertyKey[], where: (path: PropertyKey[]) => ManifestIssue, issues: ManifestIssue[]): string {
  return v.replace(/\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (whole, escaped: string, name: string, def?: string) => {
    if (escaped) return whole.slice(1);
    const got = env[name];
    if (got !== undefined && got !== '') return got;
    if (def !== undefined) return def;
    issues.push({ ...where(pathOf()), message: `environment variable ${name} is not set (use \${${name}:-default} for a default)` });
    return '';
  });
}
