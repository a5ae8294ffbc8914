import { expect } from 'vitest';
import type { IncomingHttpHeaders } from 'node:http';
import { EVENT_TYPES } from '../../src/registry/types.js';
import { uuidProblem, uuidTime } from '../../src/registry/time-uuid.js';

/**
 * Shape checks for the wire objects of the fixtures in spec/fixtures/, with
 * the corrections the spec makes to them (section 12): keys in the server's
 * fixed order (1.4), `next_marker` always present (AMB-3), `last_seen` in ms
 * (AMB-21), every event with `id` and `timestamp`, service payloads with
 * `heartbeat_timeout` (AMB-20).
 *
 * `ordered: true` (raw HTTP bodies) also checks key order; objects returned by
 * a Registry are checked with `ordered: false` (order is informative, 1.4).
 */
export interface ShapeOptions {
  ordered?: boolean;
}

/** fixtures/response/services-dfw1-db1-get.json, in the order of spec 1.4. */
export const SERVICE_KEYS = ['id', 'tags', 'metadata', 'heartbeat_timeout', 'last_seen'] as const;
/** fixtures/response/configuration-configId-get.json */
export const CONFIG_VALUE_KEYS = ['id', 'value'] as const;
/** fixtures/response/events-get.json (first item; the others were hand-edited). */
export const EVENT_KEYS = ['id', 'timestamp', 'type', 'payload'] as const;
/** fixtures/response/services-not-found-get.json */
export const FAULT_KEYS = ['type', 'code', 'message', 'details', 'txnId'] as const;
/** fixtures/response/services-get-limit-1-page-1.json (the only fixture with next_marker). */
export const LIST_METADATA_KEYS = ['count', 'limit', 'marker', 'next_marker', 'next_href'] as const;
/** fixtures/response/services-post.json and services-dfw1-db1-heartbeat-post.json */
export const TOKEN_KEYS = ['token'] as const;
/** fixtures/response/limits-get.json */
export const LIMITS_KEYS = ['resource', 'rate'] as const;
export const SERVICE_PAYLOAD_KEYS = ['id', 'tags', 'metadata', 'heartbeat_timeout'] as const;
export const SESSION_KEYS = ['id', 'metadata', 'heartbeat_timeout', 'last_seen'] as const;

export const JSON_CONTENT_TYPE = 'application/json; charset=UTF-8';

type Obj = Record<string, unknown>;

function asObject(v: unknown, what: string): Obj {
  expect(v, `${what} must be a JSON object`).toBeTypeOf('object');
  expect(v, `${what} must not be null`).not.toBeNull();
  expect(Array.isArray(v), `${what} must not be an array`).toBe(false);
  return v as Obj;
}

/** Exactly these keys; in this order when `ordered`. */
export function expectKeys(v: unknown, keys: readonly string[], what: string, opts: ShapeOptions = {}): Obj {
  const o = asObject(v, what);
  if (opts.ordered) expect(Object.keys(o), `${what} keys (in order)`).toEqual([...keys]);
  else expect(Object.keys(o).sort(), `${what} keys`).toEqual([...keys].sort());
  return o;
}

function isMsTimestamp(v: unknown): boolean {
  // Milliseconds since the epoch: after 2001-09-09 (1e12 ms). Seconds (the Python fixtures) are ~1.3e9.
  return typeof v === 'number' && Number.isInteger(v) && v > 1e12;
}

function expectStringMap(v: unknown, what: string): void {
  const o = asObject(v, what);
  for (const [k, val] of Object.entries(o)) expect(typeof val, `${what}.${k}`).toBe('string');
}

function expectStringArray(v: unknown, what: string): void {
  expect(Array.isArray(v), `${what} must be an array`).toBe(true);
  for (const t of v as unknown[]) expect(typeof t, `${what} item`).toBe('string');
}

/** A 36-char lower-case v1 time UUID (spec 1.6). */
export function expectTimeUuid(v: unknown, what = 'uuid'): string {
  expect(typeof v, `${what} type`).toBe('string');
  const s = v as string;
  expect(s, `${what} is 36 chars, lower case`).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(uuidProblem(s), `${what} is a valid v1 UUID`).toBeNull();
  return s;
}

/** `{"token": "<v1 uuid>"}` */
export function expectTokenShape(v: unknown, opts: ShapeOptions = {}): string {
  const o = expectKeys(v, TOKEN_KEYS, 'token reply', opts);
  return expectTimeUuid(o.token, 'token');
}

/**
 * A service object. A service bound to a session (extension) carries
 * `session_id` as a sixth key after the five of the fixture.
 */
export function expectServiceShape(v: unknown, opts: ShapeOptions & { sessionBound?: boolean } = {}): Obj {
  const keys = opts.sessionBound ? [...SERVICE_KEYS, 'session_id'] : SERVICE_KEYS;
  const o = expectKeys(v, keys, 'service', opts);
  expect(typeof o.id, 'service.id').toBe('string');
  expectStringArray(o.tags, 'service.tags');
  expectStringMap(o.metadata, 'service.metadata');
  expect(Number.isInteger(o.heartbeat_timeout), 'service.heartbeat_timeout is an integer').toBe(true);
  expect(o.last_seen === null || isMsTimestamp(o.last_seen), `service.last_seen is null or ms (got ${String(o.last_seen)})`).toBe(true);
  if (opts.sessionBound) expect(typeof o.session_id, 'service.session_id').toBe('string');
  return o;
}

export function expectConfigValueShape(v: unknown, opts: ShapeOptions = {}): Obj {
  const o = expectKeys(v, CONFIG_VALUE_KEYS, 'configuration value', opts);
  expect(typeof o.id, 'configuration value id').toBe('string');
  expect(typeof o.value, 'configuration value value').toBe('string');
  return o;
}

export function expectSessionShape(v: unknown, opts: ShapeOptions = {}): Obj {
  const o = expectKeys(v, SESSION_KEYS, 'session', opts);
  expect(typeof o.id, 'session.id').toBe('string');
  expectStringMap(o.metadata, 'session.metadata');
  expect(Number.isInteger(o.heartbeat_timeout), 'session.heartbeat_timeout').toBe(true);
  expect(o.last_seen === null || isMsTimestamp(o.last_seen), 'session.last_seen is null or ms').toBe(true);
  return o;
}

/** An event: id is a v1 UUID whose time equals `timestamp` (9.1), payload per type (9.2). */
export function expectEventShape(v: unknown, opts: ShapeOptions = {}): Obj {
  const o = expectKeys(v, EVENT_KEYS, 'event', opts);
  const id = expectTimeUuid(o.id, 'event.id');
  expect(isMsTimestamp(o.timestamp), 'event.timestamp is ms').toBe(true);
  expect(uuidTime(id), 'event id embeds its timestamp').toBe(o.timestamp);
  expect(EVENT_TYPES as readonly unknown[], 'event.type').toContain(o.type);
  const type = o.type as (typeof EVENT_TYPES)[number];
  if (type === 'configuration_value.update') {
    const p = expectKeys(o.payload, ['old_value', 'new_value', 'configuration_value_id'], 'update payload');
    expect(p.old_value === null || typeof p.old_value === 'string', 'old_value').toBe(true);
    expect(typeof p.new_value).toBe('string');
    expect(typeof p.configuration_value_id).toBe('string');
  } else if (type === 'configuration_value.remove') {
    const p = expectKeys(o.payload, ['old_value', 'configuration_value_id'], 'remove payload');
    expect(typeof p.old_value).toBe('string');
    expect(typeof p.configuration_value_id).toBe('string');
  } else {
    const payload = asObject(o.payload, 'service payload');
    const keys = 'session_id' in payload ? [...SERVICE_PAYLOAD_KEYS, 'session_id'] : SERVICE_PAYLOAD_KEYS;
    const p = expectKeys(payload, keys, 'service payload');
    expect(typeof p.id).toBe('string');
    expectStringArray(p.tags, 'payload.tags');
    expectStringMap(p.metadata, 'payload.metadata');
    expect(Number.isInteger(p.heartbeat_timeout), 'payload.heartbeat_timeout').toBe(true);
  }
  return o;
}

/**
 * A list envelope: `values` + `metadata` {count, limit, marker, next_marker,
 * next_href}; `next_marker` always present (AMB-3), `count` = values.length.
 * `linked` (raw HTTP): next_href is set exactly when next_marker is.
 */
export function expectListShape(
  v: unknown,
  item: (x: unknown, opts: ShapeOptions) => unknown,
  opts: ShapeOptions & { linked?: boolean } = {},
): { values: unknown[]; metadata: Obj } {
  const o = expectKeys(v, ['values', 'metadata'], 'list envelope', opts);
  expect(Array.isArray(o.values), 'values is an array').toBe(true);
  const values = o.values as unknown[];
  const m = expectKeys(o.metadata, LIST_METADATA_KEYS, 'list metadata', opts);
  expect(m.count, 'metadata.count').toBe(values.length);
  expect(Number.isInteger(m.limit) && (m.limit as number) >= 1 && (m.limit as number) <= 1000, 'metadata.limit').toBe(true);
  expect(m.marker === null || typeof m.marker === 'string', 'metadata.marker').toBe(true);
  expect(m.next_marker === null || typeof m.next_marker === 'string', 'metadata.next_marker').toBe(true);
  expect(m.next_href === null || typeof m.next_href === 'string', 'metadata.next_href').toBe(true);
  if (opts.linked) expect(m.next_href === null, 'next_href is null exactly when next_marker is').toBe(m.next_marker === null);
  for (const x of values) item(x, opts);
  return { values, metadata: m };
}

/** A fault body (3.1): `code` equals the status; `details` absent only for URI malformed. */
export function expectFaultShape(v: unknown, status: number, opts: ShapeOptions & { noDetails?: boolean } = {}): Obj {
  const keys = opts.noDetails ? FAULT_KEYS.filter((k) => k !== 'details') : FAULT_KEYS;
  const o = expectKeys(v, keys, 'fault', opts);
  expect(typeof o.type, 'fault.type').toBe('string');
  expect(o.code, 'fault.code equals the HTTP status').toBe(status);
  expect(typeof o.message, 'fault.message').toBe('string');
  expect(typeof o.txnId, 'fault.txnId').toBe('string');
  return o;
}

/** `{resource: {...numbers}, rate: {regex: {limit, used, window}}}` (5.3). */
export function expectLimitsShape(v: unknown, opts: ShapeOptions = {}): Obj {
  const o = expectKeys(v, LIMITS_KEYS, 'limits', opts);
  const resource = asObject(o.resource, 'limits.resource');
  for (const [k, n] of Object.entries(resource)) expect(Number.isInteger(n), `resource.${k}`).toBe(true);
  const rate = asObject(o.rate, 'limits.rate');
  for (const [k, r] of Object.entries(rate)) {
    const rule = expectKeys(r, ['limit', 'used', 'window'], `rate[${k}]`, opts);
    expect(Number.isInteger(rule.limit)).toBe(true);
    expect(Number.isInteger(rule.used)).toBe(true);
    expect(rule.window).toMatch(/^\d+\.\d hours$/);
  }
  return o;
}

/** Headers every JSON reply carries (1.4): the JSON content type, a length, X-Response-Id. */
export function expectJsonHeaders(headers: IncomingHttpHeaders): void {
  expect(headers['content-type'], 'Content-Type').toBe(JSON_CONTENT_TYPE);
  expect(headers['content-length'], 'Content-Length').toMatch(/^\d+$/);
  expectResponseId(headers);
}

/** X-Response-Id is on every response (1.4); no X-Response-Time, no x-rp-usage-*. */
export function expectResponseId(headers: IncomingHttpHeaders): string {
  const id = headers['x-response-id'];
  expect(typeof id, 'X-Response-Id').toBe('string');
  expect((id as string).length, 'X-Response-Id is not empty').toBeGreaterThan(0);
  expect(headers['x-response-time'], 'no X-Response-Time').toBeUndefined();
  expect(Object.keys(headers).filter((h) => h.startsWith('x-rp-usage')), 'no x-rp-usage-* headers').toEqual([]);
  return id as string;
}
