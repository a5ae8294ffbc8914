import { isAbsolute, resolve } from 'node:path';
import { parseDuration } from '../lib/duration.js';
import { checkConfigIdParam } from '../registry/validate.js';
import { commandAt } from './command-path.js';
import type { ManifestIssue } from './issues.js';
import { DEFAULTS, type ActionSpec, type FileFormat, type FileSpec, type HookSpec, type SourceSpec, type WorkerSpec } from './model.js';
import { normalizeWorkers } from './normalize-workers.js';
import type { ParsedAction, ParsedFile, ParsedHook, ParsedManifest, ParsedSource } from './schema.js';

type Where = (path: PropertyKey[], message: string) => ManifestIssue;

/** A reference to a named action, resolved once every file of a conf.d directory is read. */
export interface PendingRef {
  name: string;
  resolve: (action: ActionSpec) => void;
  issueAt: (message: string) => ManifestIssue;
}

export interface OutputsPart {
  actions: Record<string, ActionSpec>;
  files: FileSpec[];
  hooks: HookSpec[];
  workers: WorkerSpec[];
  refs: PendingRef[];
}

/**
 * Normalizes one file's `actions`, `files`, `hooks` and `workers`: paths resolved against
 * the manifest's directory, formats checked against their sources, durations
 * parsed. Returns every issue; named actions are resolved later (`refs`).
 */
export function normalizeOutputs(parsed: ParsedManifest, baseDir: string, where: Where, issues: ManifestIssue[]): OutputsPart {
  const refs: PendingRef[] = [];
  const actions: Record<string, ActionSpec> = {};
  for (const [name, a] of Object.entries(parsed.actions)) actions[name] = action(a, ['actions', name], where, issues, baseDir);
  const files = parsed.files.map((f, i) => file(f, ['files', i], baseDir, where, issues, refs));
  const hooks = parsed.hooks.map((h, i) => hook(h, ['hooks', i], where, issues, refs, baseDir));
  const workers = normalizeWorkers(parsed.workers, where, issues, (ref, path) => actionRef(ref, path, where, issues, refs, baseDir));
  return { actions, files, hooks, workers, refs };
}

export function action(a: ParsedAction, path: PropertyKey[], where: Where, issues: ManifestIssue[], baseDir?: string): ActionSpec {
  if ('exec' in a) {
    return { kind: 'exec', argv: a.shell || baseDir === undefined ? a.exec : commandAt(a.exec, baseDir), shell: a.shell, timeoutMs: a.timeout === undefined ? DEFAULTS.execActionTimeoutMs : parseDuration(a.timeout) };
  }
  if ('signal' in a) {
    if ((a.pidfile === undefined) === (a.process === undefined)) issues.push(where(path, 'a signal action needs exactly one of pidfile, process'));
    return { kind: 'signal', signal: a.signal as NodeJS.Signals, pidfile: a.pidfile ?? null, process: a.process ?? null };
  }
  if ('queue' in a) {
    const ttlMs = a.ttl === undefined ? 3_600_000 : parseDuration(a.ttl);
    if (ttlMs % 1000 !== 0 || ttlMs < 60_000 || ttlMs > 1_209_600_000) issues.push(where([...path, 'ttl'], 'must be a whole number of seconds from 60 to 1209600'));
    return { kind: 'queue', queue: a.queue, body: a.body ?? null, ttlSec: Math.round(ttlMs / 1000) };
  }
  const h = typeof a.http === 'string' ? { url: a.http, method: 'POST', headers: {} } : a.http;
  return { kind: 'http', url: h.url, method: h.method, headers: h.headers, timeoutMs: a.timeout === undefined ? DEFAULTS.httpActionTimeoutMs : parseDuration(a.timeout) };
}

/** An action reference: inline now, or named (resolved at merge through `refs`). */
function actionRef(
  ref: string | ParsedAction,
  path: PropertyKey[],
  where: Where,
  issues: ManifestIssue[],
  refs: PendingRef[],
  baseDir?: string,
): { name: string | null; action: ActionSpec } {
  if (typeof ref !== 'string') return { name: null, action: action(ref, path, where, issues, baseDir) };
  const slot = { name: ref, action: { kind: 'exec', argv: [], shell: false, timeoutMs: 0 } as ActionSpec };
  refs.push({ name: ref, resolve: (a) => (slot.action = a), issueAt: (message) => where(path, message) });
  return slot;
}

function source(s: ParsedSource): SourceSpec {
  if ('key' in s) return { kind: 'key', key: s.key };
  if ('namespace' in s) return { kind: 'namespace', namespace: `/${s.namespace.replace(/^\/+|\/+$/g, '')}` };
  const f = s.services.floor;
  const floor = f === undefined ? null : { min: f.min ?? null, percent: f.percent ?? null, windowMs: f.window === undefined ? 60_000 : parseDuration(f.window) };
  return { kind: 'services', tag: s.services.tag ?? null, idPrefix: s.services.id_prefix ?? null, floor };
}

function isSingleSource(from: ParsedFile['from']): from is ParsedSource {
  const k = Object.keys(from);
  return k.length === 1 && (k[0] === 'key' || k[0] === 'namespace' || k[0] === 'services');
}

function file(f: ParsedFile, path: PropertyKey[], baseDir: string, where: Where, issues: ManifestIssue[], refs: PendingRef[]): FileSpec {
  const sources = isSingleSource(f.from)
    ? [{ name: null, source: source(f.from) }]
    : Object.entries(f.from).map(([name, s]) => ({ name, source: source(s) }));
  const first = sources[0]?.source;
  let format: FileFormat;
  if (f.template !== undefined) {
    if (f.format !== undefined) issues.push(where([...path, 'format'], 'give format or template, not both'));
    format = 'template';
  } else {
    format = f.format ?? (first?.kind === 'key' ? 'raw' : 'json');
    if (sources.length !== 1) issues.push(where([...path, 'from'], 'several named sources need a template'));
    if (format === 'raw' && first?.kind !== 'key') issues.push(where([...path, 'format'], 'raw renders a single key; use json, yaml, env or a template'));
    if (format === 'env' && first?.kind === 'services') issues.push(where([...path, 'format'], 'env renders keys; use json, yaml or a template for services'));
    if (format === 'env' && first?.kind === 'key') issues.push(where([...path, 'format'], 'env renders a namespace (one line per key); use raw, json, yaml or a template for one key'));
  }
  if (sources.length === 0) issues.push(where([...path, 'from'], 'needs at least one source'));
  sources.forEach((s) => {
    if (s.source.kind === 'services' && s.source.floor && s.source.floor.min === null && s.source.floor.percent === null) {
      issues.push(where(s.name === null ? [...path, 'from', 'services', 'floor'] : [...path, 'from', s.name, 'services', 'floor'], 'needs min, percent or both'));
    }
    // The registry's own rules: a key it would refuse can never be read, nor a key under a namespace no key fits.
    // (Tags are not checked: a service may carry any 1..55 characters, and the list is filtered here, not by ?tag=.)
    const at = (field: string[]): PropertyKey[] => (s.name === null ? [...path, 'from', ...field] : [...path, 'from', s.name, ...field]);
    const refused = sourceRefused(s.source);
    if (refused !== null) issues.push(where(at(refused.field), refused.message));
  });
  const waitMin = f.wait === undefined ? 0 : parseDuration(typeof f.wait === 'object' ? f.wait.min : f.wait);
  const waitMaxRaw = typeof f.wait === 'object' && f.wait.max !== undefined ? parseDuration(f.wait.max) : waitMin * 4;
  if (waitMaxRaw < waitMin) issues.push(where([...path, 'wait', 'max'], 'must not be less than min'));
  const at = where(path, '');
  return {
    path: isAbsolute(f.path) ? f.path : resolve(baseDir, f.path),
    sources,
    format,
    template: f.template === undefined ? null : isAbsolute(f.template) ? f.template : resolve(baseDir, f.template),
    mode: f.mode === undefined ? null : typeof f.mode === 'number' ? f.mode : parseInt(f.mode, 8),
    owner: f.owner ?? null,
    group: f.group ?? null,
    check: f.check === undefined ? null : commandAt(f.check, baseDir),
    onChange: f.on_change === undefined ? null : actionRef(f.on_change, [...path, 'on_change'], where, issues, refs, baseDir),
    waitMinMs: waitMin,
    waitMaxMs: Math.max(waitMaxRaw, waitMin),
    onMissing: f.on_missing,
    origin: `${at.file}:${at.line}`,
  };
}

function hook(h: ParsedHook, path: PropertyKey[], where: Where, issues: ManifestIssue[], refs: PendingRef[], baseDir: string): HookSpec {
  const at = where(path, '');
  return {
    on: h.on,
    filter: { serviceTag: h.filter?.service_tag ?? null, serviceIdPrefix: h.filter?.service_id_prefix ?? null, keyPrefix: h.filter?.key_prefix ?? null },
    action: actionRef(h.action, [...path, 'action'], where, issues, refs, baseDir),
    origin: `${at.file}:${at.line}`,
  };
}

/** Resolves named action references against the merged `actions`; an unknown name is an issue. */
export function resolveRefs(refs: PendingRef[], actions: Record<string, ActionSpec>, issues: ManifestIssue[]): void {
  for (const r of refs) {
    const a = actions[r.name];
    if (a) r.resolve(a);
    else issues.push(r.issueAt(`unknown action "${r.name}" (define it under actions)`));
  }
}


/** Why the registry can never serve this source (its key rule, for a key or the keys of a namespace), with the field at fault; null when it can. */
function sourceRefused(s: SourceSpec): { field: string[]; message: string } | null {
  if (s.kind === 'key') {
    const r = registryRefuses(s.key);
    return r === null ? null : { field: ['key'], message: `the registry refuses this key (${r})` };
  }
  if (s.kind === 'namespace') {
    const r = namespaceRefused(s.namespace);
    return r === null ? null : { field: ['namespace'], message: `the registry refuses every key under this namespace (${r})` };
  }
  return null;
}

/** The registry's message for keys under a namespace (normalized: `/a/b`, or `/` for all), or null when keys fit there. */
export function namespaceRefused(namespace: string): string | null {
  // A namespace holds no rule of its own; `abc` stands for any 3-character leaf (the shortest the key rule allows).
  return namespace === '/' ? null : registryRefuses(`${namespace}/abc`);
}

/** The registry's message for a configuration key it would refuse, or null. */
export function registryRefuses(key: string): string | null {
  try {
    checkConfigIdParam(key, false);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
