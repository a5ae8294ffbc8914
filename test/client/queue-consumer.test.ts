import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { consume, type ConsumeResult } from '../../src/client/queue-consumer.js';
import { HttpQueues } from '../../src/client/queues.js';
import { hasCode } from '../../src/lib/errors.js';
import { isQueueFault } from '../../src/queues/faults.js';
import type { Message } from '../../src/queues/types.js';
import { freshQueue, startQueuesServer, type QueuesServer } from './queues-server.js';

/** consume() against a real server (QueueService on SQLite behind the HTTP server), through HttpQueues. */
let srv: QueuesServer;

beforeAll(async () => {
  srv = await startQueuesServer();
});
afterAll(async () => {
  await srv.close();
});

const P = 'p-consumer';

async function queueWith(bodies: unknown[]): Promise<{ name: string; ids: string[] }> {
  const q = srv.client();
  const name = freshQueue('c');
  await q.createQueue(P, name);
  const ids: string[] = [];
  for (let i = 0; i < bodies.length; i += 20) {
    ids.push(...(await q.postMessages(P, name, q.clientId, bodies.slice(i, i + 20).map((body) => ({ ttl: 600, body })))));
  }
  return { name, ids };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('consume', () => {
  it('hands every message to exactly one handler call, across two consumers, and deletes it', async () => {
    const { name, ids } = await queueWith(Array.from({ length: 60 }, (_, i) => ({ n: i })));
    const seen: string[] = [];
    const stop = new AbortController();
    const handler = async (m: Message): Promise<void> => {
      seen.push(m.id);
      await new Promise((r) => setTimeout(r, 1));
    };
    const runs = [srv.client(), srv.client()].map((q, i) =>
      consume(q, P, name, handler, { signal: stop.signal, limit: 7, concurrency: i + 1, waitMs: 2000 }),
    );
    await vi.waitFor(() => expect(seen.length).toBeGreaterThanOrEqual(60), { timeout: 20_000 });
    await vi.waitFor(async () => expect((await srv.client().getStats(P, name)).total).toBe(0), { timeout: 10_000 });
    stop.abort();
    const results = await Promise.all(runs);
    expect([...seen].sort()).toEqual([...ids].sort());
    expect(new Set(seen).size).toBe(60);
    expect(results.reduce((n, r) => n + r.handled, 0)).toBe(60);
    expect(results.every((r) => r.failed === 0)).toBe(true);
  });

  it('redelivers a message whose handler failed, soon (the claim is released after its batch)', async () => {
    const { name, ids } = await queueWith(['a', 'b', 'c']);
    const calls: Array<{ id: string; at: number }> = [];
    const errors: unknown[] = [];
    const stop = new AbortController();
    const run = consume(
      srv.client(),
      P,
      name,
      async (m) => {
        calls.push({ id: m.id, at: Date.now() });
        if (m.body === 'b' && calls.filter((c) => c.id === m.id).length === 1) throw new Error('first try fails');
      },
      { signal: stop.signal, limit: 3, waitMs: 2000, onError: (e) => errors.push(e) },
    );
    await vi.waitFor(async () => expect((await srv.client().getStats(P, name)).total).toBe(0), { timeout: 15_000 });
    stop.abort();
    const result = await run;
    const b = calls.filter((c) => c.id === ids[1]);
    expect(b).toHaveLength(2);
    // Released at once, not at the claim's 60 s expiry (which the fake clock never reaches).
    expect((b[1]?.at ?? 0) - (b[0]?.at ?? 0)).toBeLessThan(5000);
    expect(calls.filter((c) => c.id !== ids[1])).toHaveLength(2);
    expect(result).toEqual<ConsumeResult>({ handled: 3, failed: 1 });
    expect(errors.some((e) => hasCode(e, 'queues.handlerFailed'))).toBe(true);
  });

  it('keeps the claim of a long handler by renewing it past the original ttl', async () => {
    const { name, ids } = await queueWith(['slow']);
    const other = srv.client();
    const renewals: number[] = [];
    const q = srv.client();
    // Observe renewals (the real HttpQueues does the work).
    const renew = q.renewClaim.bind(q);
    q.renewClaim = async (...args) => {
      await renew(...args);
      renewals.push(srv.clock.now());
    };
    const started = deferred();
    const finish = deferred();
    const stop = new AbortController();
    const run = consume(
      q,
      P,
      name,
      async () => {
        started.resolve();
        await finish.promise;
      },
      { signal: stop.signal, ttl: 60, grace: 60, renewEveryMs: 50, waitMs: 2000 },
    );
    await started.promise;
    // 50 s on the server's clock, a renewal (from then: +60 s), 50 s more: 100 s after the claim, 40 s past its first ttl.
    srv.clock.advance(50_000);
    const mark = renewals.length;
    await vi.waitFor(() => expect(renewals.length).toBeGreaterThan(mark), { timeout: 5000 });
    srv.clock.advance(50_000);
    expect(await other.claimMessages(P, name, { ttl: 60, grace: 60 })).toBeNull();
    expect((await other.getStats(P, name)).claimed).toBe(1);
    finish.resolve();
    await vi.waitFor(async () => expect((await other.getStats(P, name)).total).toBe(0), { timeout: 5000 });
    stop.abort();
    expect(await run).toEqual({ handled: 1, failed: 0 });
    expect(isQueueFault(await other.getMessage(P, name, ids[0] as string).catch((e: unknown) => e), 'notFound')).toBe(true);
  });

  it('aborts the handlers of a claim that expired before its renewal; the message comes back (at least once)', async () => {
    const { name, ids } = await queueWith(['lost']);
    const errors: unknown[] = [];
    const reasons: unknown[] = [];
    const stop = new AbortController();
    const started = deferred();
    const run = consume(
      srv.client(),
      P,
      name,
      async (m, { signal }) => {
        reasons.push(m.id);
        if (reasons.length > 1) return; // the redelivery is handled at once
        started.resolve();
        await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
        reasons.push(signal.reason);
      },
      { signal: stop.signal, ttl: 60, grace: 60, renewEveryMs: 300, waitMs: 2000, onError: (e) => errors.push(e) },
    );
    await started.promise;
    // Past the claim's ttl before the first renewal: the renewal finds it gone and aborts the handler.
    srv.clock.advance(61_000);
    await vi.waitFor(async () => expect((await srv.client().getStats(P, name)).total).toBe(0), { timeout: 10_000 });
    stop.abort();
    expect(await run).toEqual({ handled: 2, failed: 0 });
    expect(reasons[0]).toBe(ids[0]);
    expect(hasCode(reasons[1], 'queues.claimLost')).toBe(true);
    expect(reasons[2]).toBe(ids[0]);
    expect(errors.some((e) => isQueueFault(e, 'notFound'))).toBe(true);
    // The first handler finished after the loss: its delete, with the lost claim id, was refused.
    expect(errors.some((e) => isQueueFault(e, 'forbidden'))).toBe(true);
  });

  it('stops on abort: lets the running handler finish, releases the messages it did not start', async () => {
    const { name, ids } = await queueWith(['first', 'second', 'third']);
    const started = deferred();
    const handled: string[] = [];
    const stop = new AbortController();
    const run = consume(
      srv.client(),
      P,
      name,
      async (m, { signal }) => {
        started.resolve();
        await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
        handled.push(m.id);
      },
      { signal: stop.signal, limit: 3, waitMs: 2000 },
    );
    await started.promise;
    stop.abort();
    expect(await run).toEqual({ handled: 1, failed: 0 });
    expect(handled).toEqual([ids[0]]);
    // The other two are free again at once (no claim expiry needed), the first is gone.
    const next = await srv.client().claimMessages(P, name, { ttl: 60, grace: 60 });
    expect(next?.messages.map((m) => m.id)).toEqual(ids.slice(1));
    await srv.client().releaseClaim(P, name, next?.id as string);

    // Stopped while a claim is on its way back: nothing starts, the claim is released.
    const late = new AbortController();
    const q = srv.client();
    const claimOnce = q.claimMessages.bind(q);
    q.claimMessages = async (...args) => {
      const c = await claimOnce(...args);
      late.abort();
      return c;
    };
    expect(await consume(q, P, name, () => void handled.push('never'), { signal: late.signal, limit: 3, waitMs: 2000 })).toEqual({ handled: 0, failed: 0 });
    expect((await srv.client().getStats(P, name)).free).toBe(2);
  });

  it('backs off while the server is unreachable, and rejects on a fault retrying cannot fix', async () => {
    const dead = new HttpQueues({ url: 'http://127.0.0.1:9' });
    const errors: Array<{ code: unknown; at: number }> = [];
    const stop = new AbortController();
    const run = consume(dead, P, 'q', async () => undefined, {
      signal: stop.signal,
      onError: (e) => errors.push({ code: (e as { code?: unknown }).code, at: Date.now() }),
      random: () => 0,
    });
    await vi.waitFor(() => expect(errors.length).toBeGreaterThanOrEqual(4), { timeout: 10_000 });
    stop.abort();
    expect(await run).toEqual({ handled: 0, failed: 0 });
    expect(errors.every((e) => e.code === 'client.unreachable')).toBe(true);
    // 100, 200, 400 ms: each pause longer than the one before.
    const gaps = errors.slice(1, 4).map((e, i) => e.at - (errors[i]?.at ?? 0));
    expect(gaps[2]).toBeGreaterThan(gaps[0] as number);
    await dead.close();

    // Not waiting (waitMs 0) on an empty queue: a claim per pollIntervalMs, not a busy loop.
    const { name } = await queueWith([]);
    const counting = srv.client();
    let claims = 0;
    const claimOnce = counting.claimMessages.bind(counting);
    counting.claimMessages = (...args) => (claims++, claimOnce(...args));
    const idle = new AbortController();
    const t0 = Date.now();
    const idleRun = consume(counting, P, name, async () => undefined, { signal: idle.signal, waitMs: 0, pollIntervalMs: 200 });
    await vi.waitFor(() => expect(claims).toBeGreaterThanOrEqual(3), { timeout: 10_000 });
    // Three claims take two pauses of 200 ms; a busy loop would take a few ms.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(380);
    idle.abort();
    await idleRun;

    const bad = consume(srv.client(), P, name, async () => undefined, { signal: new AbortController().signal, ttl: 10 });
    expect(isQueueFault(await bad.catch((e: unknown) => e), 'invalidApiCall')).toBe(true);
  });
});
