import { faults } from './faults.js';
import { EVENT_TYPES, type EventType, type Metadata } from './types.js';
import { uuidProblem } from './time-uuid.js';

/** Spec 6.4: heartbeat_timeout bounds, in seconds. */
export const MIN_HEARTBEAT_TIMEOUT_S = 3;
export const MAX_HEARTBEAT_TIMEOUT_S = 120;

/**
 * The validators of spec section 3.3: each throws the RegistryFault for the
 * first failing field, in schema order, with the original server's texts.
 */

const SERVICE_ID_RE = /^[a-z0-9_\-.]{3,65}$/i;
const TAG_QUERY_RE = /^[a-z0-9_\-.]{1,55}$/i;
const MARKER_RE = /^[a-z0-9\-:_./]{0,255}$/i;
// Verbatim from spec 8.1: implementations must not re-derive it.
const CONFIG_ID_RE = /^(\/[a-z0-9_-]{3,50}\/?){0,10}([a-z0-9_\-.]{3,170})?$/i;
const SESSION_ID_RE = /^[a-z0-9_\-.]{1,255}$/i;
/** A tenant id (spec 1.1: any non-empty `[A-Za-z0-9_.-]+` segment; bounded here). */
export const TENANT_RE = /^[A-Za-z0-9_.-]{1,128}$/;

export const LIMITS = { pageDefault: 100, pageMax: 1000, maxWait: 60 } as const;

type Check = (v: unknown) => string | null;

const isHash = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function str(min: number, max: number, re?: RegExp): Check {
  return (v) => {
    if (typeof v !== 'string') return 'Not a string';
    if (v.length < min || v.length > max) return `String is not in range (${min}..${max})`;
    if (re && !re.test(v)) return 'Invalid characters';
    return null;
  };
}

const checkServiceId = str(3, 65, SERVICE_ID_RE);
const checkTag = str(1, 55);
const checkMetaString = str(1, 255);

function checkTags(v: unknown): string | null {
  if (!Array.isArray(v)) return 'Not an array';
  if (v.length > 10) return 'Object needs to have between 0 and 10 items';
  for (const t of v) {
    const p = checkTag(t);
    if (p) return p;
  }
  return null;
}

function checkMetadata(v: unknown): string | null {
  if (!isHash(v)) return 'Not a hash';
  const entries = Object.entries(v);
  if (entries.length > 20) return 'Object needs to have between 0 and 20 items';
  for (const [k, val] of entries) {
    const kp = checkMetaString(k);
    if (kp) return `Key ${k}: ${kp}`;
    const vp = checkMetaString(val);
    if (vp) return `Value for key '${k}': ${vp}`;
  }
  return null;
}

/** Integer-valued strings such as "30" are accepted and converted (spec 6.1). */
function toTimeout(v: unknown): number {
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw faults.validation('heartbeat_timeout', 'Invalid integer');
  if (n < MIN_HEARTBEAT_TIMEOUT_S || n > MAX_HEARTBEAT_TIMEOUT_S) throw faults.validation('heartbeat_timeout', 'Value out of range (3..120)');
  return n;
}

function field<T>(key: string, v: unknown, check: Check): T {
  const p = check(v);
  if (p) throw faults.validation(key, p);
  return v as T;
}

function bodyObject(body: unknown): Record<string, unknown> {
  if (body === null) throw faults.emptyBody();
  if (body === undefined) return {};
  if (!isHash(body)) throw faults.parseError('Request body must be a JSON object');
  return body;
}

export interface NewService {
  id: string;
  tags: string[];
  metadata: Metadata;
  heartbeat_timeout: number | null;
  session_id: string | null;
}

/** A create-service body. `heartbeat_timeout` is required unless `session_id` is given. */
export function parseNewService(body: unknown): NewService {
  const b = bodyObject(body);
  if (b.id === undefined) throw faults.validation('id', 'Missing required key (id)');
  const id = field<string>('id', b.id, checkServiceId);
  const tags = b.tags === undefined || b.tags === null ? [] : [...field<string[]>('tags', b.tags, checkTags)];
  const metadata = b.metadata === undefined || b.metadata === null ? {} : { ...field<Metadata>('metadata', b.metadata, checkMetadata) };
  const session_id = b.session_id === undefined || b.session_id === null ? null : field<string>('session_id', b.session_id, str(1, 255, SESSION_ID_RE));
  let heartbeat_timeout: number | null = null;
  if (b.heartbeat_timeout !== undefined) heartbeat_timeout = toTimeout(b.heartbeat_timeout);
  else if (session_id === null) throw faults.validation('heartbeat_timeout', 'Missing required key (heartbeat_timeout)');
  return { id, tags, metadata, heartbeat_timeout, session_id };
}

export interface ServicePatch {
  tags?: string[];
  metadata?: Metadata;
  heartbeat_timeout?: number;
}

/** A partial service (PUT). A body `id` equal to the path id is ignored; a different one is rejected (AMB-7). */
export function parseServicePatch(pathId: string, body: unknown): ServicePatch {
  const b = bodyObject(body);
  const patch: ServicePatch = {};
  if (b.id !== undefined && b.id !== pathId) throw faults.validation('id', 'Value must equal the service id in the path');
  if (b.tags !== undefined) patch.tags = b.tags === null ? [] : [...field<string[]>('tags', b.tags, checkTags)];
  if (b.metadata !== undefined) patch.metadata = b.metadata === null ? {} : { ...field<Metadata>('metadata', b.metadata, checkMetadata) };
  if (b.heartbeat_timeout !== undefined) patch.heartbeat_timeout = toTimeout(b.heartbeat_timeout);
  return patch;
}

export interface NewSession {
  heartbeat_timeout: number;
  metadata: Metadata;
}

export function parseNewSession(body: unknown): NewSession {
  const b = bodyObject(body);
  if (b.heartbeat_timeout === undefined) throw faults.validation('heartbeat_timeout', 'Missing required key (heartbeat_timeout)');
  const heartbeat_timeout = toTimeout(b.heartbeat_timeout);
  const metadata = b.metadata === undefined || b.metadata === null ? {} : { ...field<Metadata>('metadata', b.metadata, checkMetadata) };
  return { heartbeat_timeout, metadata };
}

export function parseSessionPatch(body: unknown): Partial<NewSession> {
  const b = bodyObject(body);
  const patch: Partial<NewSession> = {};
  if (b.heartbeat_timeout !== undefined) patch.heartbeat_timeout = toTimeout(b.heartbeat_timeout);
  if (b.metadata !== undefined) patch.metadata = b.metadata === null ? {} : { ...field<Metadata>('metadata', b.metadata, checkMetadata) };
  return patch;
}

/** A heartbeat body: `{"token": "<v1 uuid>"}`. */
export function parseTokenBody(body: unknown): string {
  const b = bodyObject(body);
  if (b.token === undefined) throw faults.validation('token', 'Missing required key (token)');
  if (typeof b.token !== 'string') throw faults.validation('token', 'Not a string');
  const p = uuidProblem(b.token);
  if (p) throw faults.validation('token', p);
  return b.token.toLowerCase();
}

/** A set-configuration body: `{"value": "<1..1024 chars>"}`. */
export function parseConfigBody(body: unknown): string {
  const b = bodyObject(body);
  if (b.value === undefined) throw faults.validation('value', 'Missing required key (value)');
  return field<string>('value', b.value, str(1, 1024));
}

/** A service id in a path (GET, PUT, DELETE; not heartbeat). */
export function checkServiceIdParam(id: string): void {
  const p = checkServiceId(id);
  if (p) throw faults.invalidParam('serviceId', p);
}

/**
 * A configuration id in a path. `forWrite` also rejects ids ending in `/`
 * (AMB-10: they could be stored but never read back).
 */
export function checkConfigIdParam(id: string, forWrite: boolean): void {
  let p = str(3, 500, CONFIG_ID_RE)(id);
  if (!p && forWrite && id.endsWith('/')) p = 'Invalid characters';
  if (p) throw faults.invalidParam('configurationId', p);
}

export function checkTagParam(tag: string): void {
  if (!TAG_QUERY_RE.test(tag)) throw faults.invalidParam('tag', tag.length === 0 ? 'String is not in range (1..55)' : 'Invalid characters');
}

/** Validates `limit` (default 100, 1..1000, digits only). */
export function parseLimit(raw: number | string | undefined): number {
  if (raw === undefined) return LIMITS.pageDefault;
  const s = String(raw);
  if (!/^\d+$/.test(s)) throw faults.limitNotNumber();
  const n = Number(s);
  if (n < 1 || n > LIMITS.pageMax) throw faults.limitRange(s);
  return n;
}

/** Validates a services/configuration marker; an empty string is no marker. */
export function parseIdMarker(raw: string | undefined): string | null {
  if (raw === undefined || raw === '') return null;
  if (!MARKER_RE.test(raw)) throw faults.badMarkerChars();
  return raw;
}

/** Validates an events `type` filter; a repeated parameter is always rejected. */
export function parseEventType(raw: string | string[] | undefined): EventType | null {
  if (raw === undefined) return null;
  const v = Array.isArray(raw) ? raw.join(',') : raw;
  if (!Array.isArray(raw) && (EVENT_TYPES as readonly string[]).includes(raw)) return raw as EventType;
  throw faults.badRequestSame(`Invalid type: ${v}. Valid types are: ${EVENT_TYPES.join(',')}`);
}

/** Validates the `wait` extension: seconds, 0..60, may be fractional. */
export function parseWait(raw: number | string | undefined): number {
  if (raw === undefined || raw === '') return 0;
  const n = typeof raw === 'number' ? raw : /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isFinite(n) || n < 0 || n > LIMITS.maxWait) {
    throw faults.invalidParam('wait', `Value out of range (0..${LIMITS.maxWait})`);
  }
  return n;
}
