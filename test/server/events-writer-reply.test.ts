import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WAKE_FIRST } from '../../src/registry/event-waits.js';
import { raw, startServer, type RawReply, type TestServer } from './helpers.js';

/**
 * On SQLite a group commit settles its writers after the microtasks its
 * watchers started (sqlite-commit-queue.ts): a woken follower's reply leaves
 * before the writer's. With a large fan-out the writer's reply must not wait
 * for every follower's: it leaves after the first WAKE_FIRST replies.
 */

const T = 'writer';
const JSON_CT = { 'content-type': 'application/json' };
let s: TestServer;

afterEach(async () => {
  await s.close();
});

/** The order in which the server finished writing its replies: 'poll' or 'write'. */
function finishOrder(server: TestServer): string[] {
  const order: string[] = [];
  server.server.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const label = req.method === 'PUT' ? 'write' : req.url?.includes('wait=') === true ? 'poll' : 'other';
    res.on('finish', () => order.push(label));
  });
  return order;
}

async function waiting(server: TestServer): Promise<number> {
  return Number(/tether_long_polls_waiting\{api="registry"\} (\d+)/.exec((await server.server.metrics.scrape()).text)?.[1] ?? 0);
}

/** Parks `n` long-polls from the last event, then writes a change; returns the finish order and the polls' replies. */
async function wake(n: number): Promise<{ order: string[]; polls: RawReply[] }> {
  const put = (v: string): Promise<RawReply> =>
    raw(s.port, 'PUT', `/v1.0/${T}/configuration/writer-key`, { headers: JSON_CT, body: JSON.stringify({ value: v }) });
  expect((await put('a')).status).toBe(204);
  const marker = (await raw(s.port, 'GET', `/v1.0/${T}/events`)).json.values.at(-1).id as string;
  const order = finishOrder(s);
  const polls = Array.from({ length: n }, () => raw(s.port, 'GET', `/v1.0/${T}/events?marker=${marker}&wait=60`));
  await vi.waitFor(async () => expect(await waiting(s)).toBe(n), { timeout: 30_000, interval: 50 });
  expect((await put('b')).status).toBe(204);
  const replies = await Promise.all(polls);
  return { order: order.filter((l) => l !== 'other'), polls: replies };
}

describe("the writer's reply on SQLite with followers waiting", () => {
  it("leaves after a single follower's reply", async () => {
    s = await startServer();
    const { order, polls } = await wake(1);
    expect(order).toEqual(['poll', 'write']);
    expect(polls[0]!.json.values).toHaveLength(2);
  });

  it(`leaves after the first ${WAKE_FIRST} of 300 followers' replies, not after all of them`, async () => {
    s = await startServer({ connections: { maxPerClient: 1_000 } });
    const { order, polls } = await wake(300);
    const before = order.indexOf('write');
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(300);
    expect(before).toBeLessThanOrEqual(WAKE_FIRST);
    expect(order.filter((l) => l === 'poll')).toHaveLength(300);
    for (const p of polls) expect(p.json.values).toHaveLength(2);
  }, 60_000);
});
