import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULT_STATUS } from '../../src/registry/faults.js';
import { startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { call, closeAgent, type Reply } from './http.js';

/**
 * Model-based fuzzing of every registry route (issue 19 item 9): random
 * sequences of valid and invalid calls against a real `tether registry`
 * process. Every reply is checked (never a 5xx; every error a spec fault
 * body with X-Response-Id), every read agrees with a model of what the
 * accepted writes did, and after each sequence the listings and the event
 * feed agree with the model too. Bounded: about 20 s.
 */

let tmp: TempDir;
let server: RegistryProc;
let port: number;
let seq = 0;

beforeAll(async () => {
  tmp = await createTempDir('fuzz-registry');
  server = await startRegistry(join(tmp.path, 'data'));
  port = server.port;
});
afterAll(async () => {
  closeAgent();
  await server.stop();
  await tmp.remove();
});

const CONFIG_IDS = ['/app/alpha', '/app/sub/gamma', 'plainkey'];
const BAD_CONFIG_IDS = ['/a', '/app/x y', 'ab', `/${'x'.repeat(60)}/tail`, '/app/%zz', '/app/sub/'];
const SERVICE_IDS = ['svc-a', 'svc-b', 'svc-c'];
const BAD_SERVICE_IDS = ['bad id', 'x'.repeat(300), '%zz', 'é'];
const ROUTE_IDS = ['r1', 'r2'];

interface Model {
  config: Map<string, string>;
  services: Map<string, { token: string | null; session: string | null; tags: string[] }>;
  sessions: Map<string, { token: string }>;
  routes: Set<string>;
  configEvents: number;
  serviceEvents: number;
}

type Op =
  | { k: 'config.set'; id: string; body: unknown }
  | { k: 'config.get' | 'config.delete'; id: string }
  | { k: 'config.list'; ns: string | null; limit: string | null }
  | { k: 'services.create'; body: unknown; session: number | null }
  | { k: 'services.get' | 'services.delete'; id: string }
  | { k: 'services.update'; id: string; body: unknown }
  | { k: 'services.heartbeat'; id: string; token: 'model' | 'random' | 'garbage' }
  | { k: 'services.list'; query: string }
  | { k: 'sessions.create'; body: unknown }
  | { k: 'sessions.get' | 'sessions.delete'; pick: number }
  | { k: 'sessions.update'; pick: number; body: unknown }
  | { k: 'sessions.heartbeat'; pick: number; token: 'model' | 'random' }
  | { k: 'sessions.list'; query: string }
  | { k: 'events.list'; query: string }
  | { k: 'limits.get' }
  | { k: 'routes.set'; id: string; body: unknown }
  | { k: 'routes.get' | 'routes.delete'; id: string }
  | { k: 'routes.list' }
  | { k: 'junk'; method: string; path: string; body: string | undefined; type: string };

const text = fc.string({ maxLength: 12 });
const junkValue = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(text, { maxLength: 2 }), fc.string({ minLength: 1025, maxLength: 1100 }));
const configId = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...CONFIG_IDS) }, { weight: 1, arbitrary: fc.constantFrom(...BAD_CONFIG_IDS) });
const serviceId = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...SERVICE_IDS) }, { weight: 1, arbitrary: fc.constantFrom(...BAD_SERVICE_IDS) });
const timeout = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 60, max: 120 }) }, { weight: 1, arbitrary: fc.oneof(fc.integer({ min: -5, max: 2 }), fc.integer({ min: 121, max: 1000 }), fc.constant('abc')) });
const tags = fc.oneof({ weight: 4, arbitrary: fc.array(fc.constantFrom('web', 'db', 'x'), { maxLength: 3 }) }, { weight: 1, arbitrary: junkValue });
const metadata = fc.oneof({ weight: 4, arbitrary: fc.dictionary(fc.constantFrom('k1', 'k2'), fc.constantFrom('v1', 'v2')) }, { weight: 1, arbitrary: fc.oneof(junkValue, fc.constant({ k: 5 })) });
const query = fc
  .array(fc.tuple(fc.constantFrom('limit', 'marker', 'tag', 'type', 'other'), fc.oneof(fc.constantFrom('1', '2', '0', '1001', 'x', '', 'svc-b', 'web', 'service.join', 'nope'), text)), { maxLength: 3 })
  .map((ps) => (ps.length === 0 ? '' : `?${ps.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}`));

// Weights: writes often enough that deletes, heartbeats and updates find something to act on.
const op = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('config.set' as const), id: configId, body: fc.oneof({ weight: 5, arbitrary: fc.record({ value: fc.string({ minLength: 1, maxLength: 30 }) }) }, { weight: 1, arbitrary: fc.oneof(fc.record({ value: junkValue }), fc.constant({}), junkValue) }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constantFrom('config.get' as const, 'config.delete' as const), id: configId }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('config.list' as const), ns: fc.option(fc.constantFrom('/app', '/app/', '/app/sub', '/none', '/x')), limit: fc.option(fc.constantFrom('1', '2', '1000', '0', 'x')) }) },
  { weight: 3, arbitrary: fc.record({
    k: fc.constant('services.create' as const),
    body: fc.oneof(
      { weight: 4, arbitrary: fc.record({ id: fc.constantFrom(...SERVICE_IDS), heartbeat_timeout: fc.integer({ min: 60, max: 120 }), tags: fc.array(fc.constantFrom('web', 'db'), { maxLength: 2 }) }) },
      { weight: 1, arbitrary: fc.record({ id: serviceId, heartbeat_timeout: timeout, tags, metadata }, { requiredKeys: ['id'] }) },
    ),
    session: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat(3) }),
  }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constantFrom('services.get' as const, 'services.delete' as const), id: serviceId }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('services.update' as const), id: serviceId, body: fc.record({ tags, metadata, heartbeat_timeout: timeout }, { requiredKeys: [] }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('services.heartbeat' as const), id: serviceId, token: fc.constantFrom('model' as const, 'random' as const, 'garbage' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('services.list' as const), query }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('sessions.create' as const), body: fc.record({ heartbeat_timeout: timeout, metadata }, { requiredKeys: [] }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constantFrom('sessions.get' as const, 'sessions.delete' as const), pick: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('sessions.update' as const), pick: fc.nat(3), body: fc.record({ heartbeat_timeout: timeout, metadata }, { requiredKeys: [] }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('sessions.heartbeat' as const), pick: fc.nat(3), token: fc.constantFrom('model' as const, 'random' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('sessions.list' as const), query }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('events.list' as const), query }) },
  { weight: 1, arbitrary: fc.constant({ k: 'limits.get' as const }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('routes.set' as const), id: fc.constantFrom(...ROUTE_IDS, 'bad id'), body: fc.oneof(fc.record({ queue: fc.constantFrom('feed', 'other') }), fc.record({ queue: fc.constantFrom('bad name!', '') }), junkValue) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constantFrom('routes.get' as const, 'routes.delete' as const), id: fc.constantFrom(...ROUTE_IDS) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'routes.list' as const }) },
  { weight: 2, arbitrary: fc.record({
    k: fc.constant('junk' as const),
    method: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
    path: fc.oneof(fc.constantFrom('', '/services', '/services/svc-a/heartbeat', '/configuration/app/alpha', '/sessions', '/events', '/limits', '/event-routes/r1', '/nope', '/%zz'), text.map((s) => `/${encodeURIComponent(s)}`)),
    body: fc.option(fc.oneof(text, fc.constantFrom('{', '[]', '{"value":"x"}', '{"id":"svc-a","heartbeat_timeout":30}', 'null', '{"token":"x"}'))),
    type: fc.constantFrom('application/json', 'text/plain', 'application/json; charset=utf-8', ''),
  }) },
) as fc.Arbitrary<Op>;

/** Never a 5xx; every error a fault body of spec 3.1 (413 excepted: empty by contract); X-Response-Id always. */
function checkReply(r: Reply, method = 'GET'): void {
  expect(r.status, r.text).toBeLessThan(500);
  expect(r.headers['x-response-id']).toBeTypeOf('string');
  // A reply to HEAD never has a body.
  if (r.status < 400 || r.status === 413 || method === 'HEAD') return;
  const body = JSON.parse(r.text) as Record<string, unknown>;
  expect(body.code).toBe(r.status);
  expect(Object.keys(FAULT_STATUS)).toContain(body.type);
  expect(FAULT_STATUS[body.type as keyof typeof FAULT_STATUS]).toBe(r.status);
  expect(body.message).toBeTypeOf('string');
  expect(body.txnId).toBeTypeOf('string');
}

const enc = (id: string) => id.split('/').map(encodeURIComponent).join('/');
const configPath = (t: string, id: string) => `/v1.0/${t}/configuration${id.startsWith('/') ? '' : '/'}${enc(id)}`;

async function run(t: string, m: Model, o: Op): Promise<void> {
  const base = `/v1.0/${t}`;
  const sessionIds = [...m.sessions.keys()];
  const pickSession = (n: number) => sessionIds[n % Math.max(1, sessionIds.length)] ?? 'no-such-session';
  let r: Reply;
  switch (o.k) {
    case 'config.set': {
      r = await call(port, 'PUT', configPath(t, o.id), o.body);
      if (r.status === 204) {
        const value = (o.body as { value: string }).value;
        if (m.config.get(o.id) !== value) m.configEvents++;
        m.config.set(o.id, value);
      } else if (CONFIG_IDS.includes(o.id) && typeof (o.body as { value?: unknown })?.value === 'string' && (o.body as { value: string }).value.length <= 1024) {
        throw new Error(`a valid set was refused: ${r.status} ${r.text}`);
      }
      break;
    }
    case 'config.get': {
      r = await call(port, 'GET', configPath(t, o.id));
      if (CONFIG_IDS.includes(o.id)) {
        if (m.config.has(o.id)) expect(JSON.parse(r.text)).toEqual({ id: o.id, value: m.config.get(o.id) });
        else expect(r.status).toBe(404);
      }
      break;
    }
    case 'config.delete': {
      r = await call(port, 'DELETE', configPath(t, o.id));
      if (CONFIG_IDS.includes(o.id)) expect(r.status).toBe(m.config.has(o.id) ? 204 : 404);
      if (r.status === 204) {
        m.config.delete(o.id);
        m.configEvents++;
      }
      break;
    }
    case 'config.list': {
      const q = o.limit === null ? '' : `?limit=${o.limit}`;
      r = await call(port, 'GET', `${base}/configuration${o.ns === null ? '' : enc(o.ns)}${o.ns !== null && !o.ns.endsWith('/') ? '/' : ''}${q}`);
      if (r.status === 200 && o.limit === null && o.ns === null) {
        const got = (JSON.parse(r.text) as { values: Array<{ id: string; value: string }> }).values;
        expect(new Map(got.map((v) => [v.id, v.value]))).toEqual(m.config);
      }
      break;
    }
    case 'services.create': {
      const body = { ...(o.body as Record<string, unknown>) };
      if (o.session !== null) {
        body.session_id = pickSession(o.session);
        delete body.heartbeat_timeout;
      }
      r = await call(port, 'POST', `${base}/services`, body);
      const id = body.id as string;
      if (r.status === 201) {
        expect(m.services.has(id)).toBe(false);
        const token = r.text === '' ? null : ((JSON.parse(r.text) as { token?: string }).token ?? null);
        m.services.set(id, { token, session: (body.session_id as string | undefined) ?? null, tags: Array.isArray(body.tags) ? (body.tags as string[]) : [] });
        m.serviceEvents++;
      } else if (m.services.has(id)) {
        expect(r.status).toBe(400);
      }
      break;
    }
    case 'services.get': {
      r = await call(port, 'GET', `${base}/services/${encodeURIComponent(o.id)}`);
      if (SERVICE_IDS.includes(o.id)) expect(r.status).toBe(m.services.has(o.id) ? 200 : 404);
      break;
    }
    case 'services.delete': {
      r = await call(port, 'DELETE', `${base}/services/${encodeURIComponent(o.id)}`);
      if (SERVICE_IDS.includes(o.id)) expect(r.status).toBe(m.services.has(o.id) ? 204 : 404);
      if (r.status === 204) {
        m.services.delete(o.id);
        m.serviceEvents++;
      }
      break;
    }
    case 'services.update': {
      r = await call(port, 'PUT', `${base}/services/${encodeURIComponent(o.id)}`, o.body);
      const s = m.services.get(o.id);
      const newTags = (o.body as { tags?: unknown }).tags;
      // Spec 6.5: tags are replaced as a whole; null resets them to [].
      if (r.status === 204 && s && (Array.isArray(newTags) || newTags === null)) s.tags = (newTags as string[] | null) ?? [];
      if (r.status === 204) expect(s).toBeDefined();
      break;
    }
    case 'services.heartbeat': {
      const s = m.services.get(o.id);
      const token = o.token === 'model' ? (s?.token ?? randomUUID()) : o.token === 'random' ? randomUUID() : 'not-a-token';
      r = await call(port, 'POST', `${base}/services/${encodeURIComponent(o.id)}/heartbeat`, { token });
      if (r.status === 200) {
        expect(s?.token).toBe(token);
        (s as { token: string | null }).token = (JSON.parse(r.text) as { token: string }).token;
      } else if (s?.token === token && s.session === null) {
        throw new Error(`a heartbeat with the current token was refused: ${r.status} ${r.text}`);
      }
      break;
    }
    case 'sessions.create': {
      r = await call(port, 'POST', `${base}/sessions`, o.body);
      if (r.status === 201) {
        const id = (r.headers.location as string).split('/').pop() as string;
        m.sessions.set(id, { token: (JSON.parse(r.text) as { token: string }).token });
      }
      break;
    }
    case 'sessions.get': {
      const id = pickSession(o.pick);
      r = await call(port, 'GET', `${base}/sessions/${id}`);
      expect(r.status).toBe(m.sessions.has(id) ? 200 : 404);
      break;
    }
    case 'sessions.delete': {
      const id = pickSession(o.pick);
      r = await call(port, 'DELETE', `${base}/sessions/${id}`);
      expect(r.status).toBe(m.sessions.has(id) ? 204 : 404);
      if (r.status === 204) {
        m.sessions.delete(id);
        for (const [sid, s] of m.services) {
          if (s.session !== id) continue;
          m.services.delete(sid);
          m.serviceEvents++;
        }
      }
      break;
    }
    case 'sessions.update': {
      const id = pickSession(o.pick);
      r = await call(port, 'PUT', `${base}/sessions/${id}`, o.body);
      if (r.status === 204) expect(m.sessions.has(id)).toBe(true);
      break;
    }
    case 'sessions.heartbeat': {
      const id = pickSession(o.pick);
      const s = m.sessions.get(id);
      const token = o.token === 'model' && s ? s.token : randomUUID();
      r = await call(port, 'POST', `${base}/sessions/${id}/heartbeat`, { token });
      if (s?.token === token) expect(r.status).toBe(200);
      if (r.status === 200) (s as { token: string }).token = (JSON.parse(r.text) as { token: string }).token;
      break;
    }
    case 'services.list':
      r = await call(port, 'GET', `${base}/services${o.query}`);
      break;
    case 'sessions.list':
      r = await call(port, 'GET', `${base}/sessions${o.query}`);
      break;
    case 'events.list':
      r = await call(port, 'GET', `${base}/events${o.query}`);
      break;
    case 'limits.get':
      r = await call(port, 'GET', `${base}/limits`);
      expect(r.status).toBe(200);
      break;
    case 'routes.set':
      r = await call(port, 'PUT', `${base}/event-routes/${encodeURIComponent(o.id)}`, o.body);
      if (r.status < 300) m.routes.add(o.id);
      break;
    case 'routes.get':
      r = await call(port, 'GET', `${base}/event-routes/${o.id}`);
      expect(r.status).toBe(m.routes.has(o.id) ? 200 : 404);
      break;
    case 'routes.delete':
      r = await call(port, 'DELETE', `${base}/event-routes/${o.id}`);
      expect(r.status).toBe(m.routes.has(o.id) ? 204 : 404);
      m.routes.delete(o.id);
      break;
    case 'routes.list':
      r = await call(port, 'GET', `${base}/event-routes`);
      break;
    case 'junk':
      // Another tenant: whatever a random request happens to change stays out of the model's.
      r = await call(port, o.method, `/v1.0/${t}-junk${o.path}`, o.body ?? undefined, o.type === '' ? {} : { 'content-type': o.type });
      break;
  }
  checkReply(r, o.k === 'junk' ? o.method : 'GET');
  calls++;
  if (r.status < 300) accepted.set(o.k, (accepted.get(o.k) ?? 0) + 1);
}

/** Accepted calls by kind over the whole run: the sequences must exercise the routes, not only their faults. */
const accepted = new Map<string, number>();
let calls = 0;

/** Everything the tenant lists agrees with the model, and the feed holds one event per accepted change. */
async function checkStore(t: string, m: Model): Promise<void> {
  const base = `/v1.0/${t}`;
  const list = async <T>(path: string): Promise<T[]> => {
    const r = await call(port, 'GET', `${base}${path}`);
    checkReply(r);
    return r.status === 200 ? (JSON.parse(r.text) as { values: T[] }).values : [];
  };
  const config = await list<{ id: string; value: string }>('/configuration?limit=1000');
  expect(new Map(config.map((v) => [v.id, v.value]))).toEqual(m.config);
  const services = await list<{ id: string; tags: string[] }>('/services?limit=1000');
  expect(new Map(services.map((s) => [s.id, s.tags]))).toEqual(new Map([...m.services].map(([id, s]) => [id, s.tags])));
  const sessions = await list<{ id: string }>('/sessions?limit=1000');
  expect(new Set(sessions.map((s) => s.id))).toEqual(new Set(m.sessions.keys()));
  const routes = await list<{ id: string }>('/event-routes');
  expect(new Set(routes.map((s) => s.id))).toEqual(m.routes);
  const events = await list<{ type: string }>('/events?limit=1000');
  expect(events.filter((e) => e.type.startsWith('configuration_value.')).length).toBe(m.configEvents);
  expect(events.filter((e) => e.type === 'service.join' || e.type === 'service.remove').length).toBe(m.serviceEvents);
}

describe('registry routes under model-based fuzzing (real server process)', () => {
  it('random sequences over every route: no 5xx, faults in the spec shape, reads and listings agree with the accepted writes', async () => {
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 20, maxLength: 50, size: 'max' }), async (ops) => {
        const t = `fz${process.pid}-${++seq}`;
        const m: Model = { config: new Map(), services: new Map(), sessions: new Map(), routes: new Set(), configEvents: 0, serviceEvents: 0 };
        for (const o of ops) await run(t, m, o);
        await checkStore(t, m);
      }),
      { numRuns: 150, interruptAfterTimeLimit: 20_000 },
    );
    expect(Date.now() - started).toBeLessThan(60_000);
    console.log(`${calls} calls in ${Date.now() - started} ms; accepted by kind`, Object.fromEntries(accepted));
    for (const kind of ['config.set', 'config.delete', 'services.create', 'services.delete', 'services.update', 'services.heartbeat', 'sessions.create', 'sessions.delete', 'sessions.heartbeat', 'routes.set', 'events.list']) {
      expect(accepted.get(kind) ?? 0, kind).toBeGreaterThan(0);
    }
  }, 90_000);
});
