import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { metric } from '../quota/wire.js';
import { call, closeAgent, type Reply } from './http.js';

/**
 * Model-based fuzzing of every Cloud Queues v1 route (issue 19 item 9):
 * random sequences of valid and invalid calls against a real `tether
 * registry` process. Every reply is checked (never a 5xx; every error a spec
 * 2.7 fault: `{title, description}`, 404 empty), claims, deletes and reads
 * agree with a model of the accepted writes, and after each sequence the
 * queue list, stats, messages and claims agree with the model. Bounded: about 20 s.
 */

let tmp: TempDir;
let server: RegistryProc;
let port: number;
let seq = 0;
const CLIENT = randomUUID();
// A storage quota far above what the runs store: every write is checked, none refused, and the bytes are counted.
const QUOTA = ['--tenant-quota-bytes', '1GiB'];

beforeAll(async () => {
  tmp = await createTempDir('fuzz-queues');
  server = await startRegistry(join(tmp.path, 'data'), 0, QUOTA);
  port = server.port;
});
afterAll(async () => {
  closeAgent();
  await server.stop();
  await tmp.remove();
});

const QUEUES = ['q1', 'q2'];
const BAD_QUEUES = ['bad name', 'x'.repeat(65), '%zz', 'é'];

interface QueueModel {
  /** Message id -> claim id (null = free), in post order. */
  messages: Map<string, string | null>;
  claims: Set<string>;
  metadata: unknown;
}
type Model = Map<string, QueueModel>;

type Op =
  | { k: 'queue.create' | 'queue.delete' | 'queue.exists' | 'queue.stats' | 'metadata.get'; q: string; head?: boolean }
  | { k: 'metadata.put'; q: string; body: unknown }
  | { k: 'queues.list'; query: string }
  | { k: 'messages.post'; q: string; body: unknown }
  | { k: 'messages.list'; q: string; query: string }
  | { k: 'messages.byIds' | 'messages.bulkDelete'; q: string; picks: number[]; junk: boolean }
  | { k: 'message.get'; q: string; pick: number }
  | { k: 'message.delete'; q: string; pick: number; claim: 'none' | 'own' | 'other' | 'garbage' }
  | { k: 'claim.create'; q: string; limit: string | null; body: unknown }
  | { k: 'claim.get' | 'claim.release'; q: string; pick: number }
  | { k: 'claim.renew'; q: string; pick: number; body: unknown }
  | { k: 'junk'; method: string; path: string; body: string | undefined; headers: Record<string, string> };

const text = fc.string({ maxLength: 12 });
const junkJson = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), text, fc.array(fc.integer(), { maxLength: 2 }), fc.constant({}));
const queue = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...QUEUES) }, { weight: 1, arbitrary: fc.constantFrom(...BAD_QUEUES) });
const message = fc.record({ ttl: fc.integer({ min: 60, max: 3600 }), body: fc.oneof(fc.constant(null), fc.integer(), text, fc.dictionary(fc.constantFrom('a', 'b'), fc.integer())) });
const ttl = fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 60, max: 600 }) }, { weight: 1, arbitrary: fc.oneof(fc.integer({ min: -5, max: 59 }), fc.integer({ min: 43201, max: 99999 }), fc.constant('60'), fc.constant(60.5)) });
const query = fc
  .array(fc.tuple(fc.constantFrom('limit', 'marker', 'echo', 'include_claimed', 'detailed', 'other'), fc.constantFrom('1', '5', '20', '21', '0', 'true', 'false', 'yes', 'x', '')), { maxLength: 3 })
  .map((ps) => ps.map(([k, v]) => `${k}=${v}`).join('&'));

const op = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('queue.create' as const), q: queue }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('queue.delete' as const), q: queue }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('queue.exists' as const), q: queue, head: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constantFrom('queue.stats' as const, 'metadata.get' as const), q: queue }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('metadata.put' as const), q: queue, body: fc.oneof(fc.dictionary(fc.constantFrom('x', 'y'), fc.oneof(fc.integer(), text)), junkJson) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('queues.list' as const), query }) },
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant('messages.post' as const),
      q: queue,
      body: fc.oneof({ weight: 5, arbitrary: fc.array(message, { minLength: 1, maxLength: 5 }) }, { weight: 1, arbitrary: fc.oneof(junkJson, fc.constant([]), fc.array(fc.record({ ttl, body: junkJson }), { minLength: 1, maxLength: 2 })) }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('messages.list' as const), q: queue, query }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constantFrom('messages.byIds' as const, 'messages.bulkDelete' as const), q: queue, picks: fc.array(fc.nat(30), { minLength: 1, maxLength: 4 }), junk: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('message.get' as const), q: queue, pick: fc.nat(30) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('message.delete' as const), q: queue, pick: fc.nat(30), claim: fc.constantFrom('none' as const, 'own' as const, 'own' as const, 'other' as const, 'garbage' as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('claim.create' as const),
      q: queue,
      limit: fc.option(fc.constantFrom('1', '2', '5', '20', '0', '21', 'x'), { freq: 2 }),
      body: fc.oneof({ weight: 5, arbitrary: fc.record({ ttl: fc.integer({ min: 60, max: 600 }), grace: fc.integer({ min: 60, max: 600 }) }) }, { weight: 1, arbitrary: fc.oneof(fc.record({ ttl, grace: ttl }), junkJson) }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('claim.get' as const), q: queue, pick: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('claim.release' as const), q: queue, pick: fc.nat(5) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('claim.renew' as const), q: queue, pick: fc.nat(5), body: fc.oneof({ weight: 4, arbitrary: fc.record({ ttl }) }, { weight: 1, arbitrary: junkJson }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('junk' as const),
      method: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
      path: fc.oneof(fc.constantFrom('/v1', '/v1/health', '/v1/queues', '/v1/queues/q1', '/v1/queues/q1/messages', '/v1/queues/q1/claims', '/v1/queues/q1/claims/x', '/v1/nope'), text.map((s) => `/v1/queues/${encodeURIComponent(s)}`)),
      body: fc.option(fc.oneof(text, fc.constantFrom('{', '[]', '[{"ttl":60,"body":1}]', '{"ttl":60,"grace":60}', 'null'))),
      headers: fc.record({ 'client-id': fc.constantFrom(CLIENT, 'not-a-uuid', ''), accept: fc.constantFrom('application/json', 'text/html', '*/*') }, { requiredKeys: [] }),
    }),
  },
) as fc.Arbitrary<Op>;

/** Never a 5xx; an error is 404 with an empty body, 405 (Allow), or a `{title, description}` fault body (spec 2.7). */
function checkReply(r: Reply, method = 'GET'): void {
  expect(r.status, r.text).toBeLessThan(500);
  if (r.status < 400 || method === 'HEAD') return;
  if (r.status === 404) return void expect(r.text).toBe('');
  if (r.status === 405) return void expect(r.headers.allow).toBeTypeOf('string');
  const body = JSON.parse(r.text) as Record<string, unknown>;
  expect(body.title).toBeTypeOf('string');
  expect(body.description).toBeTypeOf('string');
}

const idOf = (href: string) => (href.split('?')[0] as string).split('/').pop() as string;

/** The `n`-th of `items` (wrapping), or a made-up id when there are none. */
const nth = <T>(items: T[], n: number, none: T): T => (items.length === 0 ? none : (items[n % items.length] as T));

async function run(project: string, m: Model, o: Op): Promise<Reply> {
  const h = { 'client-id': CLIENT, 'x-project-id': project };
  // Another project: whatever a random request happens to change stays out of the model's.
  if (o.k === 'junk') return call(port, o.method, o.path, o.body ?? undefined, { 'x-project-id': `${project}-junk`, ...o.headers });
  if (o.k === 'queues.list') {
    const r = await call(port, 'GET', `/v1/queues${o.query === '' ? '' : `?${o.query}`}`, undefined, h);
    if (r.status === 200) for (const listed of (JSON.parse(r.text) as { queues: Array<{ name: string }> }).queues) expect(m.has(listed.name)).toBe(true);
    return r;
  }
  const q = o.q;
  const req = (method: string, path: string, body?: unknown) => call(port, method, `/v1/queues/${encodeURIComponent(q)}${path}`, body, h);
  const qm = m.get(q);
  const valid = QUEUES.includes(q);
  const ids = qm ? [...qm.messages.keys()] : [];
  // Claims that still hold messages first: those are the ones worth querying and renewing.
  const holding = qm ? [...new Set([...qm.messages.values()].filter((c): c is string => c !== null))] : [];
  const claims = holding.length > 0 ? holding : qm ? [...qm.claims] : [];
  switch (o.k) {
    case 'queue.create': {
      const r = await req('PUT', '');
      if (valid) expect(r.status).toBe(qm ? 204 : 201);
      if (r.status === 201) m.set(o.q, { messages: new Map(), claims: new Set(), metadata: {} });
      return r;
    }
    case 'queue.delete': {
      const r = await req('DELETE', '');
      if (valid) expect(r.status).toBe(204);
      m.delete(o.q);
      return r;
    }
    case 'queue.exists': {
      const r = await req(o.head ? 'HEAD' : 'GET', '');
      if (valid) expect(r.status).toBe(qm ? 204 : 404);
      return r;
    }
    case 'queue.stats': {
      const r = await req('GET', '/stats');
      if (valid) expect(r.status).toBe(qm ? 200 : 404);
      if (r.status === 200 && qm) {
        const s = (JSON.parse(r.text) as { messages: { total: number; claimed: number; free: number } }).messages;
        const claimed = [...qm.messages.values()].filter((c) => c !== null).length;
        expect(s).toMatchObject({ total: qm.messages.size, claimed, free: qm.messages.size - claimed });
      }
      return r;
    }
    case 'metadata.get': {
      const r = await req('GET', '/metadata');
      if (valid) expect(r.status).toBe(qm ? 200 : 404);
      if (r.status === 200 && qm) expect(JSON.parse(r.text)).toEqual(qm.metadata);
      return r;
    }
    case 'metadata.put': {
      const r = await req('PUT', '/metadata', o.body);
      if (r.status === 204 && qm) qm.metadata = o.body;
      return r;
    }
    case 'messages.post': {
      const r = await req('POST', '/messages', o.body);
      if (r.status === 201) {
        expect(qm).toBeDefined();
        for (const href of (JSON.parse(r.text) as { resources: string[] }).resources) qm?.messages.set(idOf(href), null);
      } else if (valid && Array.isArray(o.body) && o.body.length > 0 && o.body.every((x) => typeof (x as { ttl?: unknown }).ttl === 'number' && Number.isInteger((x as { ttl: number }).ttl) && (x as { ttl: number }).ttl >= 60 && (x as { ttl: number }).ttl <= 1209600)) {
        expect(r.status).toBe(qm ? 201 : 404);
      }
      return r;
    }
    case 'messages.list': {
      const r = await req('GET', `/messages${o.query === '' ? '' : `?${o.query}`}`);
      if (r.status === 200) for (const msg of (JSON.parse(r.text) as { messages: Array<{ href: string }> }).messages) expect(qm?.messages.has(idOf(msg.href))).toBe(true);
      return r;
    }
    case 'messages.byIds': {
      const asked = [...new Set(o.picks.map((p) => nth(ids, p, 'ffffffffffffffffffffffff')))];
      if (o.junk) asked.push('nope');
      const r = await req('GET', `/messages?ids=${asked.join(',')}`);
      if (valid) {
        const want = asked.filter((id) => qm?.messages.has(id)).sort();
        expect(r.status === 204 ? [] : (JSON.parse(r.text) as Array<{ href: string }>).map((x) => idOf(x.href)).sort()).toEqual(want);
      }
      return r;
    }
    case 'messages.bulkDelete': {
      const asked = [...new Set(o.picks.map((p) => nth(ids, p, 'ffffffffffffffffffffffff')))];
      const r = await req('DELETE', `/messages?ids=${asked.join(',')}${o.junk ? ',nope' : ''}`);
      if (valid) expect(r.status).toBe(204);
      if (r.status === 204) for (const id of asked) qm?.messages.delete(id);
      return r;
    }
    case 'message.get': {
      const id = nth(ids, o.pick, 'ffffffffffffffffffffffff');
      const r = await req('GET', `/messages/${id}`);
      if (valid) expect(r.status).toBe(qm?.messages.has(id) ? 200 : 404);
      return r;
    }
    case 'message.delete': {
      const id = nth(ids, o.pick, 'ffffffffffffffffffffffff');
      const own = qm?.messages.get(id) ?? null;
      const claimId = o.claim === 'own' ? own : o.claim === 'other' ? (claims.find((c) => c !== own) ?? null) : o.claim === 'garbage' ? 'garbage' : null;
      const r = await req('DELETE', `/messages/${id}${claimId === null ? '' : `?claim_id=${claimId}`}`);
      if (valid && qm?.messages.has(id)) {
        // A8: a malformed claim id answers 204 and keeps the message.
        const deleted = claimId === 'garbage' ? false : claimId === null ? own === null : claimId === own;
        expect(r.status).toBe(deleted || claimId === 'garbage' ? 204 : 403);
        if (deleted) qm.messages.delete(id);
      } else if (valid) {
        expect(r.status).toBe(204);
      }
      return r;
    }
    case 'claim.create': {
      const r = await req('POST', `/claims${o.limit === null ? '' : `?limit=${o.limit}`}`, o.body);
      if (r.status === 201 && qm) {
        const claimId = idOf(r.headers.location as string);
        const got = (JSON.parse(r.text) as Array<{ href: string }>).map((x) => idOf(x.href));
        const free = [...qm.messages].filter(([, c]) => c === null).map(([id]) => id);
        // One client, one at a time: exactly the oldest free messages, as many as the limit allows.
        expect(got).toEqual(free.slice(0, o.limit === null ? 10 : Number(o.limit)));
        for (const id of got) qm.messages.set(id, claimId);
        qm.claims.add(claimId);
      } else if (r.status === 204 && qm) {
        expect([...qm.messages.values()].filter((c) => c === null)).toEqual([]);
      }
      return r;
    }
    case 'claim.get': {
      const c = nth(claims, o.pick, 'ffffffffffffffffffffffff');
      const r = await req('GET', `/claims/${c}`);
      const live = qm ? [...qm.messages].filter(([, owner]) => owner === c).map(([id]) => id) : [];
      if (valid && live.length > 0) {
        expect(r.status).toBe(200);
        expect((JSON.parse(r.text) as { messages: Array<{ href: string }> }).messages.map((x) => idOf(x.href))).toEqual(live);
      } else if (valid && !qm?.claims.has(c)) {
        expect(r.status).toBe(404);
      }
      return r;
    }
    case 'claim.renew': {
      const c = nth(claims, o.pick, 'ffffffffffffffffffffffff');
      const r = await req('PATCH', `/claims/${c}`, o.body);
      if (r.status === 204) expect(qm?.claims.has(c)).toBe(true);
      return r;
    }
    case 'claim.release': {
      const c = nth(claims, o.pick, 'ffffffffffffffffffffffff');
      const r = await req('DELETE', `/claims/${c}`);
      if (valid) expect(r.status).toBe(204);
      if (qm && r.status === 204) {
        qm.claims.delete(c);
        for (const [id, owner] of qm.messages) if (owner === c) qm.messages.set(id, null);
      }
      return r;
    }
  }
}

/** The project's queues, stats, messages and claims agree with the model. */
async function checkStore(project: string, m: Model): Promise<void> {
  const h = { 'client-id': CLIENT, 'x-project-id': project };
  const list = await call(port, 'GET', '/v1/queues?limit=20', undefined, h);
  checkReply(list);
  const names = list.status === 204 ? [] : (JSON.parse(list.text) as { queues: Array<{ name: string }> }).queues.map((q) => q.name);
  expect(names.sort()).toEqual([...m.keys()].sort());
  for (const [name, qm] of m) {
    const stats = await call(port, 'GET', `/v1/queues/${name}/stats`, undefined, h);
    const s = (JSON.parse(stats.text) as { messages: { total: number; claimed: number } }).messages;
    expect(s.total).toBe(qm.messages.size);
    expect(s.claimed).toBe([...qm.messages.values()].filter((c) => c !== null).length);
    const listed: string[] = [];
    let next: string | null = `/v1/queues/${name}/messages?echo=true&include_claimed=true&limit=20`;
    while (next !== null) {
      const page: Reply = await call(port, 'GET', next, undefined, h);
      checkReply(page);
      if (page.status === 204) break;
      const b = JSON.parse(page.text) as { messages: Array<{ href: string }>; links: Array<{ href: string }> };
      listed.push(...b.messages.map((x) => idOf(x.href)));
      next = b.messages.length === 0 ? null : (b.links[0]?.href ?? null);
    }
    expect(listed).toEqual([...qm.messages.keys()]);
  }
}

/**
 * The predicate run in progress. fast-check's time limit ends `fc.assert` without stopping a run
 * (predicates cannot be stopped; it races them with a timer), so that run goes on calling the
 * server: the test waits for it before reading the quota ledger's figure, or its writes land
 * between that read and the restart's recount (the ledger's "39,853 vs 40,011" under load).
 */
let inflight: Promise<void> = Promise.resolve();
const tracked =
  <A extends unknown[]>(predicate: (...args: A) => Promise<void>) =>
  (...args: A): Promise<void> =>
    (inflight = predicate(...args));

describe('queues routes under model-based fuzzing (real server process)', () => {
  it('random sequences over every route: no 5xx, faults in the spec shape, claims, reads, listings and stats agree with the accepted writes', async () => {
    const started = Date.now();
    const accepted = new Map<string, number>();
    let calls = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 20, maxLength: 50, size: 'max' }), tracked(async (ops) => {
        const project = `fzq${process.pid}-${++seq}`;
        const m: Model = new Map();
        for (const o of ops) {
          const r = await run(project, m, o);
          checkReply(r, o.k === 'junk' ? o.method : o.k === 'queue.exists' && o.head ? 'HEAD' : 'GET');
          calls++;
          if (r.status < 300) accepted.set(o.k, (accepted.get(o.k) ?? 0) + 1);
        }
        await checkStore(project, m);
      })),
      { numRuns: 150, interruptAfterTimeLimit: 20_000 },
    );
    await inflight;
    console.log(`${calls} calls in ${Date.now() - started} ms; accepted by kind`, Object.fromEntries(accepted));
    expect(Date.now() - started).toBeLessThan(60_000);
    // The quota ledger followed every change: a restart, which counts the store afresh, finds the same bytes.
    const followed = await metric(server.url, 'tether_tenant_storage_bytes_sum');
    expect(followed).toBeGreaterThan(0);
    await server.stop();
    server = await startRegistry(join(tmp.path, 'data'), 0, QUOTA);
    expect(await metric(server.url, 'tether_tenant_storage_bytes_sum')).toBe(followed);
    for (const kind of ['queue.create', 'queue.delete', 'metadata.put', 'messages.post', 'messages.byIds', 'messages.bulkDelete', 'message.delete', 'claim.create', 'claim.get', 'claim.renew', 'claim.release']) {
      expect(accepted.get(kind) ?? 0, kind).toBeGreaterThan(0);
    }
  }, 90_000);
});
