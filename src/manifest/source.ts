import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLError } from 'yaml';
import { dottedPath, type ManifestIssue } from './issues.js';

/** A parsed YAML file that can say where any path of it is. */
export interface SourceFile {
  file: string;
  /** The document's root node (yaml's node tree, each node with its source range); null when empty. */
  root: unknown;
  lines: LineCounter;
}

/**
 * Parses one YAML document with the 1.2 core schema (no merge keys, no
 * timestamps) into yaml's node tree, which plainValue turns into data and
 * locate finds positions in. Returns the source and its syntax issues: every
 * error and warning yaml reports (a duplicate key is one, so is a second
 * document). Never throws for bad YAML.
 */
export function parseSource(file: string, text: string): { source: SourceFile; issues: ManifestIssue[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, schema: 'core', merge: false });
  const source: SourceFile = { file, root: doc.contents, lines };
  return { source, issues: [...doc.errors, ...doc.warnings].map((e) => syntaxIssue(source, e)) };
}

function syntaxIssue(src: SourceFile, e: YAMLError): ManifestIssue {
  const pos = src.lines.linePos(e.pos[0]);
  // yaml's own wording names its API (parseAllDocuments); a manifest author needs the YAML reason.
  const message = e.code === 'MULTIPLE_DOCS' ? 'expected a single YAML document, but found more (--- starts another)' : firstLine(e.message);
  return { file: src.file, line: pos.line, column: pos.col, path: '', message };
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

/**
 * The position of `path` in the file: the node itself, or for a key that is
 * missing, the nearest existing parent. With `key`, the position of that key
 * inside the map at `path` (for unknown keys). An alias is as deep as a path
 * goes: an issue below it is shown where the alias is used.
 */
export function locate(src: SourceFile, path: ReadonlyArray<PropertyKey>, key?: string): ManifestIssue {
  let node = src.root;
  let at = startOf(node) ?? 0;
  let found = true;
  for (const seg of path) {
    const next = typeof seg === 'symbol' ? undefined : child(node, seg);
    if (next === undefined) {
      found = false;
      break;
    }
    node = next.node;
    at = next.at;
  }
  if (key !== undefined && found) at = startOf(pairOf(node, key)?.key) ?? at;
  const pos = src.lines.linePos(at);
  return { file: src.file, line: pos.line, column: pos.col, path: dottedPath(key === undefined ? path : [...path, key]), message: '' };
}

/** The node at `seg` of a map or sequence, with where it starts (an empty value: just after its key). */
function child(node: unknown, seg: string | number): { node: unknown; at: number } | undefined {
  if (isAlias(node)) return undefined;
  if (isSeq(node)) {
    const item: unknown = typeof seg === 'number' ? node.items[seg] : undefined;
    const at = startOf(item);
    return at === undefined ? undefined : { node: item, at };
  }
  const pair = pairOf(node, String(seg));
  if (pair === undefined) return undefined;
  const at = startOf(pair.value) ?? endOf(pair.key);
  return at === undefined ? undefined : { node: pair.value, at };
}

function pairOf(node: unknown, key: string): { key: unknown; value: unknown } | undefined {
  if (!isMap(node)) return undefined;
  return node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
}

function startOf(node: unknown): number | undefined {
  return (node as Node | null | undefined)?.range?.[0];
}

function endOf(node: unknown): number | undefined {
  return (node as Node | null | undefined)?.range?.[1];
}
