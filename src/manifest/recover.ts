import { isCollection, isScalar } from 'yaml';
import type { z } from 'zod';
import type { SourceFile } from './source.js';

/**
 * What lets one `tether validate` run report schema errors AND the rules
 * that only run on schema-valid data (ranges, duplicate ids across files,
 * unknown actions, formats against sources): the two steps below, applied
 * between zod and normalize.
 */

/** Sections that are lists: an element with a schema error is dropped on its own. */
const LIST_SECTIONS = new Set(['services', 'files', 'hooks', 'workers']);
/** Sections that are maps by name: an entry with a schema error is dropped on its own. */
const NAMED_SECTIONS = new Set(['actions']);

/**
 * `${VAR}` in a number or boolean field: YAML reads `rise: ${RISE}` as a
 * string, so its expansion "3" would fail `must be a number`. Each such
 * issue whose YAML scalar was written with `${...}` gets the number or
 * boolean the expansion spells (nothing else: "3x" stays an error). Mutates
 * `value`; returns true when it changed anything (parse again then).
 */
export function coerceInterpolated(value: unknown, issues: readonly z.core.$ZodIssue[], src: SourceFile): boolean {
  let changed = false;
  for (const issue of flatIssues(issues)) {
    if (issue.code !== 'invalid_type' || !['number', 'int', 'boolean'].includes(issue.expected)) continue;
    if (!interpolatedAt(src, issue.path)) continue;
    const parent = at(value, issue.path.slice(0, -1));
    const key = issue.path.at(-1);
    if (parent === undefined || key === undefined || typeof key === 'symbol') continue;
    const raw = (parent as Record<PropertyKey, unknown>)[key];
    const typed = issue.expected === 'boolean' ? asBoolean(raw) : asNumber(raw);
    if (typed === undefined) continue;
    (parent as Record<PropertyKey, unknown>)[key] = typed;
    changed = true;
  }
  return changed;
}

/** The issues with those of every union branch among them (their paths made absolute): `tls_skip_verify` sits in a union. */
function flatIssues(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): z.core.$ZodIssue[] {
  return issues.flatMap((i) => {
    const path = [...prefix, ...i.path];
    if (i.code === 'invalid_union') return i.errors.flatMap((branch) => flatIssues(branch, path));
    return [{ ...i, path } as z.core.$ZodIssue];
  });
}

/** True when the YAML scalar at `path` was written with a `${...}` reference. */
function interpolatedAt(src: SourceFile, path: ReadonlyArray<PropertyKey>): boolean {
  if (!isCollection(src.root)) return false;
  const node = src.root.getIn(path as unknown[], true);
  return isScalar(node) && typeof node.value === 'string' && /\$\{[A-Za-z_]/.test(node.value);
}

function asNumber(v: unknown): number | undefined {
  return typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : undefined;
}

function asBoolean(v: unknown): boolean | undefined {
  return v === 'true' ? true : v === 'false' ? false : undefined;
}

function at(value: unknown, path: ReadonlyArray<PropertyKey>): object | undefined {
  let node: unknown = value;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[seg];
  }
  return node !== null && typeof node === 'object' ? node : undefined;
}

/** The file's data without the parts that have schema errors, and how to find the kept parts' original paths. */
export interface Pruned {
  value: Record<string, unknown>;
  /** Maps a path of the pruned data to the same element's path in the file. */
  original: (path: PropertyKey[]) => PropertyKey[];
  /** Names under `actions` that were dropped: references to them are not "unknown". */
  droppedActions: string[];
  /** Paths (in the file) of the fields dropped one by one: a rule issue there or above repeats a schema issue. */
  droppedFields: PropertyKey[][];
}

type Parse = (value: unknown) => { success: true } | { success: false; error: { issues: z.core.$ZodIssue[] } };

/**
 * The data without what has schema errors, so the rest can be normalized
 * and its rules checked in the same run (the schema issues themselves are
 * reported by the caller). First the offending fields alone are dropped
 * (an unknown key, `rise: 0`), so the rules still see the rest of their
 * service; what still fails then (a required field, a union with no
 * matching branch) drops its whole element: a service, file, hook, worker
 * or named action, or a section (upstream, agent, exec). Returns null when
 * nothing can be kept (the root is not a map, or it still does not parse).
 */
export function pruneInvalid(value: unknown, issues: readonly z.core.$ZodIssue[], parse: Parse): Pruned | null {
  if (!isMap(value)) return null;
  const fields = structuredClone(value) as Record<string, unknown>;
  const droppedFields: PropertyKey[][] = [];
  for (const issue of issues) {
    for (const path of fieldTargets(issue)) if (deleteAt(fields, path)) droppedFields.push(path);
  }
  const again = parse(fields);
  const base = { original: (p: PropertyKey[]) => p, droppedActions: [], droppedFields };
  if (again.success) return { value: fields, ...base };
  const pruned = pruneElements(fields, again.error.issues);
  if (pruned === null || !parse(pruned.value).success) return null;
  return { ...pruned, droppedFields };
}

/** How deep an element of a section is: services[2] is 2 deep, upstream 1. */
function elementDepth(section: PropertyKey | undefined): number {
  if (typeof section !== 'string') return 0;
  return LIST_SECTIONS.has(section) || NAMED_SECTIONS.has(section) ? 2 : 1;
}

/** The keys to drop for one issue: the unknown keys, or the innermost named field below element level (none: the element goes). */
function fieldTargets(issue: z.core.$ZodIssue): PropertyKey[][] {
  const path = [...issue.path];
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => [...path, k]);
  const depth = elementDepth(path[0]);
  for (let j = path.length - 1; j >= depth; j--) if (typeof path[j] === 'string') return [path.slice(0, j + 1)];
  return [];
}

function deleteAt(root: Record<string, unknown>, path: PropertyKey[]): boolean {
  const parent = at(root, path.slice(0, -1));
  const key = path.at(-1);
  if (parent === undefined || Array.isArray(parent) || key === undefined || !Object.hasOwn(parent, key)) return false;
  delete (parent as Record<PropertyKey, unknown>)[key];
  return true;
}

/** Drops each element (or section) with an issue; keeps the original index of every kept list element. */
function pruneElements(value: Record<string, unknown>, issues: readonly z.core.$ZodIssue[]): Omit<Pruned, 'droppedFields'> | null {
  const out: Record<string, unknown> = { ...value };
  const dropIndex = new Map<string, Set<number>>();
  const droppedActions: string[] = [];
  for (const issue of issues) {
    const [section, item] = issue.path;
    if (section === undefined) {
      if (issue.code === 'unrecognized_keys') for (const k of issue.keys) delete out[k];
      else return null;
    } else if (typeof section !== 'string') {
      return null;
    } else if (LIST_SECTIONS.has(section) && typeof item === 'number' && Array.isArray(out[section])) {
      const set = dropIndex.get(section) ?? new Set<number>();
      dropIndex.set(section, set.add(item));
    } else if (NAMED_SECTIONS.has(section) && typeof item === 'string' && isMap(out[section])) {
      const entries = { ...(out[section] as Record<string, unknown>) };
      delete entries[item];
      out[section] = entries;
      droppedActions.push(item);
    } else {
      delete out[section];
    }
  }
  const kept = new Map<string, number[]>();
  for (const [section, drop] of dropIndex) {
    const items = out[section] as unknown[];
    const keep = items.map((_, i) => i).filter((i) => !drop.has(i));
    kept.set(section, keep);
    out[section] = keep.map((i) => items[i]);
  }
  const original = (path: PropertyKey[]): PropertyKey[] => {
    const [section, item, ...rest] = path;
    const keep = typeof section === 'string' ? kept.get(section) : undefined;
    if (keep === undefined || typeof item !== 'number') return path;
    return [section as string, keep[item] ?? item, ...rest];
  };
  return { value: out, original, droppedActions };
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
