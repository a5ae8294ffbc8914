import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ServerResponse } from 'node:http';
import type { Registry } from '../../src/registry/registry.js';
import { api, raw, startServer, startServerFor, type TestServer } from './helpers.js';

/**
 * Many followers long-polling the events feed with the same marker: one
 * change wakes them all, they share one page read and one serialization,
 * and every follower gets the same bytes.
 */

const FOLLOWERS = 40;

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function waitingPolls(on: TestServer = s): Promise<number> {
  const { text } = await on.server.metrics.scrape();
  const m = /tether_long_polls_waiting\{api="registry"\} (\d+)/.exec(text);
  return Number(m?.[1] ?? 0);
}

/** True for the value of an events page envelope (what sendPage/sendSharedPage serialize). */
function isPageEnvelope(v: unknown): boolean {
  return typeof v === 'object' && v !== null && 'values' in v && 'metadata' in v;
}

describe('events fan-out', () => {
  it('one change wakes every follower; the shared page is serialized once and the bytes are identical', async () => {
    const c = api(s.port, 'fan');
    await c.put('/configuration/first', { value: 'a' });
    const marker = (await c.get('/events')).json.values[0].id as string;

    const polls = Array.from({ length: FOLLOWERS }, () => c.get(`/events?marker=${marker}&wait=30`));
    await expect.poll(waitingPolls, { timeout: 20_000, interval: 50 }).toBe(FOLLOWERS);

    const stringify = vi.spyOn(JSON, 'stringify');
    await c.put('/configuration/second', { value: 'b' });
    const replies = await Promise.all(polls);
    const pages = stringify.mock.calls.filter(([v]) => isPageEnvelope(v)).length;
    stringify.mockRestore();

    for (const r of replies) expect(r.status).toBe(200);
    const first = replies[0]!;
    expect(first.json.values.map((e: { id: string }) => e.id)[0]).toBe(marker);
    expect(first.json.values).toHaveLength(2);
    expect(first.json.metadata.next_href).toBeNull();
    for (const r of replies) expect(r.text).toBe(first.text);
    expect(pages).toBe(1);
  });

  it('followers of two tenants wake only on their own tenant, and a follower that left is not answered', async () => {
    const a = api(s.port, 'fan-a');
    const b = api(s.port, 'fan-b');
    await a.put('/configuration/fan-key', { value: 'a' });
    await b.put('/configuration/fan-key', { value: 'b' });
    const ma = (await a.get('/events')).json.values[0].id as string;
    const mb = (await b.get('/events')).json.values[0].id as string;
    const base = await waitingPolls();

    let bDone = false;
    const pa = a.get(`/events?marker=${ma}&wait=30`);
    const pb = b.get(`/events?marker=${mb}&wait=3`).then((r) => {
      bDone = true;
      return r;
    });
    const left = new AbortController();
    const gone = raw(s.port, 'GET', `/v1.0/fan-a/events?marker=${ma}&wait=30`, { signal: left.signal }).catch((err: unknown) => err);
    await expect.poll(waitingPolls, { timeout: 20_000, interval: 50 }).toBe(base + 3);
    left.abort();
    expect(await gone).toBeInstanceOf(Error);
    // The server lets go of a follower whose client disconnected.
    await expect.poll(waitingPolls, { timeout: 20_000, interval: 50 }).toBe(base + 2);

    await a.put('/configuration/fan-key-2', { value: 'a2' });
    const ra = await pa;
    expect(ra.json.values.map((e: { type: string }) => e.type)).toEqual(['configuration_value.update', 'configuration_value.update']);
    expect(bDone).toBe(false);
    // b's follower times out with only its marker's event: a's change did not wake it.
    const rb = await pb;
    expect(rb.json.values.map((e: { id: string }) => e.id)).toEqual([mb]);
    await expect.poll(waitingPolls, { timeout: 20_000, interval: 50 }).toBe(base);
  });

  it('a poll whose client left costs nothing at the wake: only the polls still there are answered', async () => {
    const t = await startServer();
    // Replies the server starts to write to long-polls (a left poll's would be one too).
    const written = vi.spyOn(ServerResponse.prototype, 'writeHead');
    const pollReplies = (): number => written.mock.contexts.filter((res) => (res as ServerResponse).req.url?.includes('wait=') === true).length;
    try {
      const c = api(t.port, 'fan-gone');
      await c.put('/configuration/fan-key', { value: 'a' });
      const marker = (await c.get('/events')).json.values[0].id as string;
      const path = `/v1.0/fan-gone/events?marker=${marker}&wait=30`;
      const leaving = Array.from({ length: 10 }, () => new AbortController());
      const gone = leaving.map((ctl) => raw(t.port, 'GET', path, { signal: ctl.signal }).catch((err: unknown) => err));
      const staying = Array.from({ length: 20 }, () => raw(t.port, 'GET', path));
      await expect.poll(() => waitingPolls(t), { timeout: 20_000, interval: 50 }).toBe(30);
      for (const ctl of leaving) ctl.abort();
      await Promise.all(gone);
      await expect.poll(() => waitingPolls(t), { timeout: 20_000, interval: 50 }).toBe(20);
      expect(pollReplies()).toBe(0);

      await c.put('/configuration/fan-key', { value: 'b' });
      for (const r of await Promise.all(staying)) expect(r.status).toBe(200);
      expect(pollReplies()).toBe(20);
      expect(await waitingPolls(t)).toBe(0);
    } finally {
      written.mockRestore();
      await t.close();
    }
  });

  it('a waiting call that fails after its handler returned answers its fault', async () => {
    const c = api(s.port, 'fan-fault');
    await c.put('/configuration/fan-key', { value: 'a' });
    // Validated inside the registry call, which the route does not await.
    const bad = await raw(s.port, 'GET', '/v1.0/fan-fault/events?marker=not-a-uuid&wait=5');
    expect(bad.status).toBe(400);
    expect(bad.json.type).toBe('badRequest');
    expect(bad.headers['x-response-id']).toBe(bad.json.txnId);
  });

  it('a registry without pollEvents (not in-process) answers long-polls through listEvents: page and fault alike', async () => {
    const calls: string[] = [];
    const registry = new Proxy(s.registry, {
      get(target, prop) {
        if (prop === 'pollEvents') return undefined;
        const v: unknown = Reflect.get(target, prop);
        if (prop === 'listEvents') calls.push('listEvents');
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as Registry;
    const t = await startServerFor(registry);
    try {
      const c = api(t.port, 'fan-promise');
      const put = await c.put('/configuration/fan-key', { value: 'a' });
      const first = await c.get('/events');
      expect([put.status, first.status, first.text]).toEqual([204, 200, expect.stringContaining('configuration_value')]);
      const marker = first.json.values[0].id as string;
      const poll = c.get(`/events?marker=${marker}&wait=20`);
      await expect.poll(() => waitingPolls(t), { timeout: 10_000 }).toBe(1);
      await c.put('/configuration/fan-key', { value: 'b' });
      const woken = await poll;
      expect(woken.status).toBe(200);
      expect(woken.json.values.map((e: { type: string }) => e.type)).toEqual(['configuration_value.update', 'configuration_value.update']);
      const bad = await raw(t.port, 'GET', '/v1.0/fan-promise/events?marker=not-a-uuid&wait=5');
      expect(bad.status).toBe(400);
      expect(calls.length).toBeGreaterThanOrEqual(3);
    } finally {
      await t.close();
    }
  });

  it('polls whose clients left are released, and close() ends the rest at once with 503', async () => {
    const t = await startServer();
    try {
      const c = api(t.port, 'fan-close');
      await c.put('/configuration/fan-key', { value: 'a' });
      const marker = (await c.get('/events')).json.values[0].id as string;
      const path = `/v1.0/fan-close/events?marker=${marker}&wait=30`;
      const leaving = Array.from({ length: 10 }, () => new AbortController());
      const gone = leaving.map((ctl) => raw(t.port, 'GET', path, { signal: ctl.signal }).catch((err: unknown) => err));
      const staying = Array.from({ length: 20 }, () => raw(t.port, 'GET', path));
      await expect.poll(() => waitingPolls(t), { timeout: 20_000, interval: 50 }).toBe(30);
      for (const ctl of leaving) ctl.abort();
      for (const g of await Promise.all(gone)) expect(g).toBeInstanceOf(Error);
      // Each left poll's wait (hold, tick slot, tenant watch entry) is let go, not kept to its 30 s deadline.
      await expect.poll(() => waitingPolls(t), { timeout: 20_000, interval: 50 }).toBe(20);

      const started = Date.now();
      const closed = t.server.close();
      const replies = await Promise.all(staying);
      for (const r of replies) expect(r.status).toBe(503);
      await closed;
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(await waitingPolls(t)).toBe(0);
    } finally {
      await t.close();
    }
  });
});
