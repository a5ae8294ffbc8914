import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EventsFollower } from '../../src/client/events-follower.js';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { boundaryUuid } from '../../src/registry/time-uuid.js';
import type { Page, RegistryEvent } from '../../src/registry/types.js';
import type { Registry } from '../../src/registry/registry.js';
import { freshTenant, startRegistry, type RunningRegistry } from './registry-server.js';

describe('EventsFollower against a real registry', () => {
  let reg: RunningRegistry;
  let http: HttpRegistry;

  beforeAll(async () => {
    reg = await startRegistry();
    http = new HttpRegistry({ url: reg.url });
  });
  afterAll(async () => {
    await http.close();
    await reg.close();
  });

  /** A follower collecting every delivered event; stopped by the caller. */
  function collect(tenant: string, opts: { marker?: string | null; limit?: number } = {}) {
    const got: RegistryEvent[] = [];
    const polls = { count: 0 };
    // Counts the requests the follower sends (to know when it holds a long-poll).
    const registry = new Proxy(http, {
      get(target, prop) {
        const v = Reflect.get(target, prop) as unknown;
        if (prop === 'listEvents') polls.count += 1;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const markers: string[] = [];
    const resets: number[] = [];
    const follower = new EventsFollower({
      registry,
      tenant,
      waitSec: 20,
      ...opts,
      onEvents: (events, marker) => {
        got.push(...events);
        markers.push(marker);
      },
      onReset: () => {
        resets.push(Date.now());
      },
    });
    const done = follower.start();
    return { follower, got, markers, resets, done, polls };
  }

  it('delivers events in feed order, once each, and follows new ones', async () => {
    const t = freshTenant();
    for (const v of ['a', 'b', 'c']) await http.setConfig(t, 'key-1', { value: v });
    const c = collect(t);
    try {
      await vi.waitFor(() => expect(c.got).toHaveLength(3), { timeout: 5000 });
      await http.setConfig(t, 'key-2', { value: 'd' });
      await http.deleteConfig(t, 'key-1');
      await vi.waitFor(() => expect(c.got).toHaveLength(5), { timeout: 5000 });
    } finally {
      await c.follower.stop();
    }
    const feed = (await http.listEvents(t)).values;
    expect(c.got.map((e) => e.id)).toEqual(feed.map((e) => e.id));
    expect(c.got.map((e) => e.type)).toEqual([
      'configuration_value.update',
      'configuration_value.update',
      'configuration_value.update',
      'configuration_value.update',
      'configuration_value.remove',
    ]);
    expect(c.follower.marker).toBe(feed[4]?.id);
    expect(c.markers.at(-1)).toBe(feed[4]?.id);
  });

  it('drops values[0] when it is the marker it sent', async () => {
    const t = freshTenant();
    for (const v of ['1', '2', '3']) await http.setConfig(t, 'key-x', { value: v });
    const feed = (await http.listEvents(t)).values;
    const c = collect(t, { marker: feed[1]?.id as string });
    try {
      await vi.waitFor(() => expect(c.got.length).toBeGreaterThanOrEqual(1), { timeout: 5000 });
      await http.setConfig(t, 'key-x', { value: '4' });
      await vi.waitFor(() => expect(c.got).toHaveLength(2), { timeout: 5000 });
    } finally {
      await c.follower.stop();
    }
    expect(c.got[0]?.id).toBe(feed[2]?.id);
    expect(c.got.map((e) => (e.type === 'configuration_value.update' ? e.payload.new_value : null))).toEqual(['3', '4']);
  });

  it('follows next_marker pages without losing or repeating events', async () => {
    const t = freshTenant();
    for (let i = 0; i < 7; i++) await http.setConfig(t, `key-${i}`, { value: String(i) });
    const c = collect(t, { limit: 2 });
    try {
      await vi.waitFor(() => expect(c.got).toHaveLength(7), { timeout: 5000 });
    } finally {
      await c.follower.stop();
    }
    expect(c.got.map((e) => (e.type === 'configuration_value.update' ? e.payload.configuration_value_id : ''))).toEqual(
      Array.from({ length: 7 }, (_, i) => `key-${i}`),
    );
    expect(new Set(c.got.map((e) => e.id)).size).toBe(7);
  });

  it('with limit 1 still gets past the marker page: every event, once each (no long-poll livelock)', async () => {
    const t = freshTenant();
    for (let i = 0; i < 3; i++) await http.setConfig(t, `one-${i}`, { value: String(i) });
    const c = collect(t, { limit: 1 });
    try {
      await vi.waitFor(() => expect(c.got).toHaveLength(3), { timeout: 5000 });
      await http.setConfig(t, 'one-late', { value: 'x' });
      await vi.waitFor(() => expect(c.got).toHaveLength(4), { timeout: 5000 });
    } finally {
      await c.follower.stop();
    }
    expect(new Set(c.got.map((e) => e.id)).size).toBe(4);
  });

  it('resets the marker (and calls onReset) when the registry rejects it (AMB-14)', async () => {
    const t = freshTenant();
    await http.getLimits(t); // creates the account now
    await http.setConfig(t, 'after-reset', { value: 'v' });
    const c = collect(t, { marker: boundaryUuid(Date.now() - 60_000, 'max') }); // before the account existed
    try {
      await vi.waitFor(() => expect(c.got).toHaveLength(1), { timeout: 5000 });
    } finally {
      await c.follower.stop();
    }
    expect(c.resets).toHaveLength(1);
    expect(c.got[0]?.type).toBe('configuration_value.update');
  });

  it('wakes from its long-poll as soon as an event is committed', async () => {
    const t = freshTenant();
    await http.setConfig(t, 'first', { value: '1' });
    const c = collect(t);
    try {
      await vi.waitFor(() => expect(c.got).toHaveLength(1), { timeout: 5000 });
      // The first poll delivered 'first'; the second is the one held open.
      await vi.waitFor(() => expect(c.polls.count).toBeGreaterThanOrEqual(2), { timeout: 5000 });
      const written = Date.now();
      await http.setConfig(t, 'second', { value: '2' });
      const deliveredAt = await vi.waitFor(
        () => {
          expect(c.got).toHaveLength(2);
          return Date.now();
        },
        { timeout: 5000, interval: 5 },
      );
      expect(deliveredAt - written).toBeLessThan(500);
    } finally {
      const stopping = Date.now();
      await c.follower.stop();
      expect(Date.now() - stopping).toBeLessThan(1000); // stop() aborts the held request
    }
    await c.done;
  });
});

describe('EventsFollower failure handling (stub registry)', () => {
  const page = (values: RegistryEvent[]): Page<RegistryEvent> => ({
    values,
    metadata: { count: values.length, limit: 100, marker: null, next_marker: null, next_href: null },
  });
  const ev = (id: string): RegistryEvent => ({
    id,
    timestamp: 0,
    type: 'configuration_value.remove',
    payload: { old_value: 'x', configuration_value_id: id },
  });

  it('backs off on errors, redelivers when onEvents throws, and never sorts ids', async () => {
    // The second event's id sorts before the first (a service.timeout id is the expired token).
    const feed = [ev('ffff'), ev('0000')];
    let calls = 0;
    const errors: unknown[] = [];
    const registry = {
      listEvents: async (_t: string, opts: { marker?: string }) => {
        calls += 1;
        if (calls === 1) throw new Error('network blip');
        if (opts.marker === undefined) return page(feed);
        await new Promise((r) => setTimeout(r, 20));
        return page([ev(opts.marker)]);
      },
    } as unknown as Registry;
    let attempts = 0;
    const delivered: string[][] = [];
    const follower = new EventsFollower({
      registry,
      tenant: 't',
      onEvents: (events) => {
        attempts += 1;
        if (attempts === 1) throw new Error('handler failed');
        delivered.push(events.map((e) => e.id));
      },
      onError: (err) => errors.push(err),
      pollIntervalMs: 10,
      random: () => 0,
    });
    const done = follower.start();
    await vi.waitFor(() => expect(delivered).toHaveLength(1), { timeout: 5000 });
    await follower.stop();
    await done;
    expect(delivered[0]).toEqual(['ffff', '0000']);
    expect(follower.marker).toBe('0000');
    expect(errors.map((e) => (e as Error).message)).toEqual(['network blip', 'handler failed']);
  });
});
