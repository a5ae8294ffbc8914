import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { z } from 'zod';
import { TetherError } from '../lib/errors.js';
import { deepFreeze } from './freeze.js';
import { dottedPath, type ManifestIssue } from './issues.js';
import { DEFAULTS, type ActionSpec, type AgentSettings, type FileSpec, type HookSpec, type Manifest, type Upstream } from './model.js';
import { resolveRefs } from './normalize-files.js';
import { normalizeFile, type FilePart } from './normalize.js';
import { coerceInterpolated, pruneInvalid } from './recover.js';
import { manifestSchema, type ParsedManifest } from './schema.js';
import { plainValue } from './plain-value.js';
import { locate, parseSource, type SourceFile } from './source.js';

type Where = (path: PropertyKey[], message: string) => ManifestIssue;

export interface LoadResult {
  /** The frozen manifest, or null when there is any issue. */
  manifest: Manifest | null;
  /** Every issue found, in file order. */
  issues: ManifestIssue[];
}

/**
 * Reads a manifest file, or a directory of `*.yaml`/`*.yml` files merged in
 * name order (conf.d style). Returns every issue at once with file:line:column.
 * Throws TetherError `manifest.not_found` when the path does not exist or a
 * directory has no manifest files (one clear line for the CLI).
 */
export async function loadManifest(configPath: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadResult> {
  const files = manifestFiles(configPath);
  const issues: ManifestIssue[] = [];
  const parts: FilePart[] = [];
  for (const file of files) {
    // Synchronous: a manifest is a few small local files, read once at start and at each reload.
    const r = checkFile(file, readFileSync(file, 'utf8'), env);
    issues.push(...r.issues);
    if (r.part) parts.push(r.part);
  }
  const merged = merge(parts, issues);
  // Merge issues (duplicates across files) are found last; listed in file order like the rest, as an editor shows them.
  const order = new Map(files.map((f, i) => [f, i]));
  issues.sort((a, b) => (order.get(a.file) ?? 0) - (order.get(b.file) ?? 0) || a.line - b.line || a.column - b.column);
  return { manifest: issues.length === 0 ? deepFreeze({ ...merged, sourceFiles: files }) : null, issues };
}

/** The files a --config path names, in merge order. */
export function manifestFiles(configPath: string): string[] {
  const path = resolve(configPath);
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' || code === 'ENOTDIR' ? 'no such file or directory' : `cannot be read (${code ?? String(err)})`;
    throw new TetherError('manifest.not_found', `${configPath}: ${why}`);
  }
  if (!st.isDirectory()) return [path];
  const names = readdirSync(path).filter((n) => /\.ya?ml$/.test(n) && !n.startsWith('.')).sort();
  if (names.length === 0) throw new TetherError('manifest.not_found', `${configPath}: no *.yaml files in this directory`);
  return names.map((n) => join(path, n));
}

/** Parses, expands ${VAR}s, validates and normalizes one file. */
export function checkFile(file: string, text: string, env: NodeJS.ProcessEnv): { part: FilePart | null; issues: ManifestIssue[] } {
  const { source, issues: syntax } = parseSource(file, text);
  if (syntax.length > 0) return { part: null, issues: syntax };
  // An emptied or truncated-to-nothing file is a mistake, never "no services": refused at start, reload and validate alike.
  if (source.root === null || source.root === undefined) {
    return { part: null, issues: [{ file, line: 1, column: 1, path: '', message: 'the file is empty (a manifest file needs at least upstream, agent or services)' }] };
  }
  const where: Where = (path, message) => ({ ...locate(source, path), message });
  const expanded = plainValue(source.root, env, (p) => locate(source, p));
  // Keep validating past unset variables, without repeating an issue at the same path.
  const envPaths = new Set(expanded.issues.map((i) => i.path));
  let parsed = parseManifest(expanded.value ?? {});
  if (!parsed.success && coerceInterpolated(expanded.value, parsed.error.issues, source)) parsed = parseManifest(expanded.value);
  if (parsed.success) return normalized(parsed.data, file, where, expanded.issues, envPaths);
  const structural = parsed.error.issues.flatMap((i) => zodIssue(source, i)).filter((i) => !envPaths.has(i.path));
  // The rules still run over what has no schema error, so one run reports both kinds.
  const pruned = pruneInvalid(expanded.value, parsed.error.issues, parseManifest);
  const rest = pruned === null ? null : parseManifest(pruned.value);
  if (pruned === null || !rest?.success) return { part: null, issues: [...expanded.issues, ...structural] };
  const at = (path: PropertyKey[], message: string) => where(pruned.original(path), message);
  // A rule issue at a dropped field, or above it (`check: needs exactly one of http...` once `http` is dropped), repeats a schema issue.
  const dropped = pruned.droppedFields.map((p) => dottedPath(p));
  const repeats = (i: ManifestIssue) => dropped.some((d) => d === i.path || d.startsWith(`${i.path}.`) || d.startsWith(`${i.path}[`));
  const r = normalized(rest.data, file, at, [], envPaths);
  r.issues = [...expanded.issues, ...structural, ...r.issues.filter((i) => i.path === '' || !repeats(i))];
  // A reference to a dropped action is not also "unknown": a stand-in keeps the name defined (the manifest is null anyway).
  for (const name of pruned.droppedActions) r.part.outputs.actions[name] ??= { kind: 'exec', argv: [], shell: false, timeoutMs: 0 };
  return r;
}

/** Normalizes schema-valid data; the part is merged even with issues (the manifest is null then): duplicate ids and unknown actions across files are found in the same run. */
function normalized(data: ParsedManifest, file: string, where: Where, earlier: ManifestIssue[], envPaths: Set<string>): { part: FilePart; issues: ManifestIssue[] } {
  const { part, issues: ruleIssues } = normalizeFile(data, dirname(file), where);
  return { part, issues: [...earlier, ...ruleIssues.filter((i) => !envPaths.has(i.path))] };
}

function zodIssue(src: SourceFile, issue: z.core.$ZodIssue): ManifestIssue[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({ ...locate(src, issue.path, k), message: `unknown key "${k}"` }));
  }
  return [{ ...locate(src, issue.path), message: describe(issue) }];
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    return issue.message.includes('received undefined') ? 'is required' : `must be ${article(issue.expected)}`;
  }
  if (issue.code === 'invalid_union') {
    // Report the branch that got furthest: one whose failure is not a type mismatch.
    const inner = issue.errors.flat().find((e) => e.code !== 'invalid_type');
    if (inner) return describe(inner);
    return 'has the wrong type';
  }
  if (issue.code === 'invalid_value') return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  return issue.message;
}

/**
 * The manifest schema's parse, with range messages in the validator's words
 * (`must be at least 1`, `must be at most 55 characters`). A message written
 * in the schema (`needs at least the program`) takes precedence over these.
 */
function parseManifest(value: unknown): ReturnType<typeof manifestSchema.safeParse> {
  return manifestSchema.safeParse(value, { error: (iss) => (iss.code === 'too_small' || iss.code === 'too_big' ? bounds(iss) : undefined) });
}

function bounds(issue: { code: 'too_small' | 'too_big'; origin?: string; minimum?: unknown; maximum?: unknown; inclusive?: boolean }): string | undefined {
  const small = issue.code === 'too_small';
  const bound = String(small ? issue.minimum : issue.maximum);
  const word = small ? (issue.inclusive === false ? 'more than' : 'at least') : issue.inclusive === false ? 'less than' : 'at most';
  if (issue.origin === 'string') return `must be ${word} ${bound} characters`;
  if (issue.origin === 'array' || issue.origin === 'set') return `must have ${word} ${bound} item${bound === '1' ? '' : 's'}`;
  if (issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint') return `must be ${word} ${bound}`;
  return undefined;
}

function article(expected: string): string {
  return expected === 'array' || expected === 'object' || expected === 'int' ? `an ${expected === 'int' ? 'integer' : expected}` : `a ${expected}`;
}

/** Merges file parts: one file may define upstream and agent; services are concatenated with unique ids. */
function merge(parts: FilePart[], issues: ManifestIssue[]): Omit<Manifest, 'sourceFiles'> {
  let upstream: Upstream | null = null;
  let agent: AgentSettings | null = null;
  const services: Manifest['services'] = [];
  const seen = new Map<string, string>();
  let upstreamFrom = '';
  let agentFrom = '';
  for (const part of parts) {
    if (part.upstream && upstream) issues.push(part.where(['upstream'], `already defined in ${upstreamFrom}`));
    if (part.agent && agent) issues.push(part.where(['agent'], `already defined in ${agentFrom}`));
    if (part.upstream && !upstream) {
      upstream = part.upstream;
      const at = part.where(['upstream'], '');
      upstreamFrom = `${at.file}:${at.line}`;
    }
    if (part.agent && !agent) {
      agent = part.agent;
      const at = part.where(['agent'], '');
      agentFrom = `${at.file}:${at.line}`;
    }
    for (const { spec, issueAt } of part.services) {
      const first = seen.get(spec.id);
      if (first !== undefined) {
        issues.push(issueAt(`duplicate service id "${spec.id}" (first defined at ${first})`));
        continue;
      }
      seen.set(spec.id, spec.origin);
      services.push(spec);
    }
  }
  return {
    upstream,
    exec: mergeExec(parts, services, issues),
    agent: agent ?? {
      listen: { host: '127.0.0.1', port: Number(DEFAULTS.listen.split(':')[1]) },
      stateDir: DEFAULTS.stateDir,
      heartbeat: 'session',
      sessionTimeoutSec: null,
      logLevel: 'info',
      resyncIntervalMs: DEFAULTS.resyncIntervalMs,
      apiTokenFile: null,
    },
    services,
    ...mergeOutputs(parts, issues),
  };
}

/** Actions are merged by name (a name defined twice is an issue); files and hooks are concatenated, workers too (unique names). */
function mergeOutputs(parts: FilePart[], issues: ManifestIssue[]): Pick<Manifest, 'actions' | 'files' | 'hooks' | 'workers'> {
  const actions: Record<string, ActionSpec> = {};
  const files: FileSpec[] = [];
  const hooks: HookSpec[] = [];
  const paths = new Map<string, string>();
  for (const part of parts) {
    for (const [name, a] of Object.entries(part.outputs.actions)) {
      if (name in actions) issues.push(part.where(['actions', name], `action "${name}" is already defined`));
      actions[name] = a;
    }
    part.outputs.files.forEach((f, i) => {
      const first = paths.get(f.path);
      if (first !== undefined) issues.push(part.where(['files', i, 'path'], `${f.path} is already written by the file at ${first}`));
      paths.set(f.path, f.origin);
      files.push(f);
    });
    hooks.push(...part.outputs.hooks);
  }
  const workers = mergeWorkers(parts, issues);
  for (const part of parts) resolveRefs(part.outputs.refs, actions, issues);
  return { actions, files, hooks, workers };
}

/** Worker names are unique across files (normalizeWorkers reports duplicates within one). */
function mergeWorkers(parts: FilePart[], issues: ManifestIssue[]): Manifest['workers'] {
  const workers: Manifest['workers'] = [];
  const earlier = new Map<string, string>();
  for (const part of parts) {
    part.outputs.workers.forEach((w, i) => {
      const first = earlier.get(w.name);
      if (first !== undefined) issues.push(part.where(['workers', i, 'name'], `worker "${w.name}" is already defined at ${first}`));
      workers.push(w);
    });
    for (const w of part.outputs.workers) if (!earlier.has(w.name)) earlier.set(w.name, w.origin);
  }
  return workers;
}

/** One file may define exec; its per-file policies must name files of the manifest, its service a new id. */
function mergeExec(parts: FilePart[], services: Manifest['services'], issues: ManifestIssue[]): Manifest['exec'] {
  const withExec = parts.filter((p) => p.exec !== null);
  for (const p of withExec.slice(1)) issues.push(p.where(['exec'], 'already defined in another manifest file'));
  const first = withExec[0];
  if (!first?.exec) return null;
  const paths = new Set(parts.flatMap((p) => p.outputs.files.map((f) => f.path)));
  for (const path of Object.keys(first.exec.files)) {
    if (!paths.has(path)) issues.push(first.where(['exec', 'files'], `${path} is not a file of this manifest`));
  }
  const id = first.exec.service?.id;
  if (id !== undefined && services.some((s) => s.id === id)) issues.push(first.where(['exec', 'service', 'id'], `duplicate service id "${id}"`));
  return first.exec;
}
