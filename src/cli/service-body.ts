import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { NewServiceBody, ServicePatchBody } from '../client/client.js';
import { parseDuration } from '../lib/duration.js';
import { TetherError } from '../lib/errors.js';
import type { Metadata } from '../registry/types.js';
import { UsageError } from './args.js';

/**
 * The service body of `services register|update` from flags and/or a file.
 * The registry validates the result (ids, ranges, counts) and its faults are
 * what the user sees; here only what the registry cannot see is checked: the
 * flags' syntax and the file's shape.
 */

/** The flags that describe a service; `--name --host --port --version` are metadata keys of the same names. */
export const serviceFlags = {
  id: { type: 'string' },
  name: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  version: { type: 'string' },
  tag: { type: 'string', multiple: true },
  meta: { type: 'string', multiple: true },
  'heartbeat-timeout': { type: 'string' },
  session: { type: 'string' },
  file: { type: 'string', short: 'f' },
} as const;

export interface ServiceFlagValues {
  id?: string | undefined;
  name?: string | undefined;
  host?: string | undefined;
  port?: string | undefined;
  version?: string | undefined;
  tag?: string[] | undefined;
  meta?: string[] | undefined;
  'heartbeat-timeout'?: string | undefined;
  session?: string | undefined;
  file?: string | undefined;
}

/** A body read from a file: the API's own JSON shape (JSON or YAML; `-` is stdin). */
interface FileBody {
  id?: string;
  heartbeat_timeout?: number;
  tags?: string[];
  metadata?: Metadata;
  session_id?: string;
}

const DEFAULT_HEARTBEAT_TIMEOUT_SEC = 30;

/** The create body: the file (if any), then the flags over it. Throws UsageError when no id is given. */
export function registerBody(v: ServiceFlagValues): NewServiceBody {
  const file = v.file === undefined ? {} : readBodyFile(v.file);
  // As Consul: the name is the id when no id is given.
  const id = v.id ?? file.id ?? v.name;
  if (id === undefined) throw new UsageError('a service id is required: --id ID, --name NAME or "id" in --file', 'services');
  const metadata = { ...file.metadata, ...flagMetadata(v) };
  const session = v.session ?? file.session_id;
  const timeout = v['heartbeat-timeout'] !== undefined ? seconds(v['heartbeat-timeout']) : file.heartbeat_timeout;
  const body: NewServiceBody = { id, tags: v.tag ?? file.tags ?? [], metadata: dropEmpty(metadata) };
  // A session-bound service lives and dies with its session: no timeout of its own unless one is asked for.
  if (session !== undefined) body.session_id = session;
  if (timeout !== undefined || session === undefined) body.heartbeat_timeout = timeout ?? DEFAULT_HEARTBEAT_TIMEOUT_SEC;
  return body;
}

/**
 * The update patch: only what the flags (or file) name. Metadata flags are
 * merged into `current` (the API replaces metadata as a whole, so the CLI
 * reads it first); `--meta KEY=` removes KEY. `--tag` replaces every tag.
 */
export function updatePatch(v: ServiceFlagValues & { 'clear-tags'?: boolean | undefined }, current: Metadata): ServicePatchBody {
  const file = v.file === undefined ? {} : readBodyFile(v.file);
  const patch: ServicePatchBody = {};
  if (v['clear-tags']) patch.tags = null;
  else if (v.tag !== undefined || file.tags !== undefined) patch.tags = v.tag ?? file.tags ?? [];
  const fromFlags = flagMetadata(v);
  if (file.metadata !== undefined || Object.keys(fromFlags).length > 0) {
    patch.metadata = dropEmpty({ ...current, ...file.metadata, ...fromFlags });
  }
  const timeout = v['heartbeat-timeout'] !== undefined ? seconds(v['heartbeat-timeout']) : file.heartbeat_timeout;
  if (timeout !== undefined) patch.heartbeat_timeout = timeout;
  return patch;
}

/** Does any flag or file ask for metadata (so `update` has to read the current metadata)? */
export function wantsMetadata(v: ServiceFlagValues): boolean {
  return v.file !== undefined || Object.keys(flagMetadata(v)).length > 0;
}

/** `--meta k=v` pairs (repeatable), then the named flags. An empty value is kept here and dropped by dropEmpty. */
export function flagMetadata(v: Pick<ServiceFlagValues, 'name' | 'host' | 'port' | 'version' | 'meta'>): Metadata {
  const m: Metadata = {};
  for (const pair of v.meta ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--meta wants KEY=VALUE, got "${pair}"`);
    m[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  for (const key of ['name', 'host', 'port', 'version'] as const) {
    const value = v[key];
    if (value !== undefined) m[key] = value;
  }
  return m;
}

function dropEmpty(m: Metadata): Metadata {
  return Object.fromEntries(Object.entries(m).filter(([, value]) => value !== ''));
}

/** `30`, `30s`, `2m` -> whole seconds (the API's unit). */
export function seconds(text: string): number {
  try {
    const ms = parseDuration(text);
    if (ms % 1000 !== 0) throw new TetherError('duration.invalid', `"${text}" is not a whole number of seconds`);
    return ms / 1000;
  } catch (err) {
    throw new UsageError(`--heartbeat-timeout: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Reads a service body file (YAML is a superset of JSON, so one parser reads
 * both). Metadata numbers and booleans become strings, as in the manifest
 * (`port: 8080`); anything else of the wrong shape is a `cli.badFile` error.
 */
export function readBodyFile(path: string): FileBody {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path === '-' ? 0 : path, 'utf8'));
  } catch (err) {
    throw new TetherError('cli.badFile', `cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new TetherError('cli.badFile', `${path}: expected an object (a service body)`);
  const body = { ...(doc as Record<string, unknown>) };
  const known = ['id', 'heartbeat_timeout', 'tags', 'metadata', 'session_id'];
  const unknown = Object.keys(body).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new TetherError('cli.badFile', `${path}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known: ${known.join(', ')})`);
  if (body.metadata !== undefined) body.metadata = stringMetadata(path, body.metadata);
  if (typeof body.heartbeat_timeout === 'string') body.heartbeat_timeout = seconds(body.heartbeat_timeout);
  return body as FileBody;
}

function stringMetadata(path: string, raw: unknown): Metadata {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TetherError('cli.badFile', `${path}: metadata must be an object`);
  const m: Metadata = {};
  for (const [k, value] of Object.entries(raw)) {
    if (typeof value === 'string') m[k] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') m[k] = String(value);
    else throw new TetherError('cli.badFile', `${path}: metadata.${k} must be a string, number or boolean`);
  }
  return m;
}
