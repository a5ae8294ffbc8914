import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { dottedPath, type ManifestIssue } from './issues.js';

/** A parsed YAML file that can say where any path of it is. */
export interface SourceFile {
  file: string;
  doc: Document;
  lines: LineCounter;
}

export function parseSource(file: string, text: string): { source: SourceFile; issues: ManifestIssue[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const source = { file, doc, lines };
  const issues = [...doc.errors, ...doc.warnings].map((e) => {
    const pos = lines.linePos(e.pos[0]);
    return { file, line: pos.line, column: pos.col, path: '', message: e.message.split('\n')[0] ?? e.message };
  });
  return { source, issues };
}

/**
 * The position of `path` in the file: the node itself, or for a key that is
 * missing, the nearest existing parent. With `key`, the position of that key
 * inside the map at `path` (for unknown keys).
 */
export function locate(src: SourceFile, path: ReadonlyArray<PropertyKey>, key?: string): ManifestIssue {
  let node: unknown = src.doc.contents;
  let at = rangeStart(node);
  for (const seg of path) {
    const next = child(node, seg);
    if (next === undefined) break;
    node = next;
    at = rangeStart(node) ?? at;
  }
  if (key !== undefined && isMap(node)) {
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
    at = rangeStart(pair?.key) ?? at;
  }
  const pos = src.lines.linePos(at ?? 0);
  return { file: src.file, line: pos.line, column: pos.col, path: dottedPath(key === undefined ? path : [...path, key]), message: '' };
}

function child(node: unknown, seg: PropertyKey): unknown {
  if (isMap(node)) {
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
    return pair?.value ?? undefined;
  }
  if (isSeq(node) && typeof seg === 'number') return node.items[seg];
  return undefined;
}

function rangeStart(node: unknown): number | undefined {
  return (node as Node | undefined)?.range?.[0];
}

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string of `value` from
 * `env`; `$${...}` stays literal. Returns the expanded value and an issue
 * (located by `where`) for each unset variable without a default.
 */
export function expandEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  where: (path: PropertyKey[]) => ManifestIssue,
  path: PropertyKey[] = [],
): { value: unknown; issues: ManifestIssue[] } {
  const issues: ManifestIssue[] = [];
  const walk = (v: unknown, p: PropertyKey[]): unknown => {
    if (typeof v === 'string') {
      return v.replace(/\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (whole, escaped: string, name: string, def?: string) => {
        if (escaped) return whole.slice(1);
        const got = env[name];
        if (got !== undefined && got !== '') return got;
        if (def !== undefined) return def;
        issues.push({ ...where(p), message: `environment variable ${name} is not set (use \${${name}:-default} for a default)` });
        return '';
      });
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...p, i]));
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, [...p, k])]));
    }
    return v;
  };
  return { value: walk(value, path), issues };
}
