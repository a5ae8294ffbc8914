import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Op, Store } from '../../src/store/store.js';
import { sampleValue } from './prom-text.js';
import { defaultHeaders, queuesClient, startQueuesServer, type QueuesClient, type QueuesTestServer } from './queues-helpers.js';

/**
 * Review 15 S3: a waiting claim (`wait=`) handed a claim by a post while its
 * client was leaving must release it: nobody will ever read it, and its
 * messages would stay hidden for the claim's ttl.
 */

/** The queue service's view of the real store: txns wait while `hold` is set (their ops kept), ranges are counted. */
function gatedStore() {
  let release: (() => void) | undefined;
  const gate = { hold: false, rangesDone: 0, held: [] as Op[][], open: () => release?.() };
  let opened = Promise.resolve();
  const wrap = (store: Store): Store =>
    new Proxy(store, {
      get(target, prop) {
        if (prop === 'txn') {
          return async (...args: Parameters<Store['txn']>) => {
            if (gate.hold) {
              gate.held.push(args[1]);
              opened = new Promise<void>((r) => (release = r));
              gate.hold = false;
              await opened;
            }
            return target.txn(...args);
          };
        }
        if (prop === 'range') {
          return (...args: Parameters<Store['range']>) => target.range(...args).finally(() => gate.rangesDone++);
        }
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  return { gate, wrap };
}

const { gate, wrap } = gatedStore();
let srv: QueuesTestServer;
let c: QueuesClient;
beforeAll(async () => {
  srv = await startQueuesServer({ wrapStore: wrap });
  c = queuesClient(srv.port, defaultHeaders({ 'x-project-id': 'departed' }));
});
afterAll(() => srv.close());

async function waitingPolls(): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
  return sampleValue(text, 'tether_long_polls_waiting', { api: 'queues' });
}

describe('queues: a claim for a long-poll whose client left', () => {
  it('is released: the message it took is free again', async () => {
    expect((await c.put('/v1/queues/q')).status).toBe(201);
    gate.rangesDone = 0;
    const claimer = request({
      host: '127.0.0.1',
      port: srv.port,
      method: 'POST',
      path: '/v1/queues/q/claims?wait=20',
      headers: { ...c.headers },
    });
    claimer.on('error', () => undefined);
    claimer.end(JSON.stringify({ ttl: 300, grace: 60 }));
    // Waiting, and past its first scan: it stands in the handoff line.
    await expect.poll(waitingPolls, { timeout: 10_000 }).toBe(1);
    await expect.poll(() => gate.rangesDone, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);

    // A post takes the waiting claimer's slot; its txn is held while the client leaves.
    gate.hold = true;
    const posted = srv.queues.postMessages('departed', 'q', defaultHeaders()['client-id'] as string, [{ ttl: 300, body: 'job' }]);
    await expect.poll(() => gate.held.length, { timeout: 10_000 }).toBe(1);
    expect(gate.held[0]?.some((op) => op.type === 'put' && op.key.includes('/k/'))).toBe(true); // the post claims for it
    claimer.destroy();
    await expect.poll(waitingPolls, { timeout: 10_000 }).toBe(0);
    gate.open();
    expect(await posted).toHaveLength(1);

    await expect
      .poll(async () => (await c.get('/v1/queues/q/stats')).json.messages, { timeout: 10_000 })
      .toMatchObject({ free: 1, claimed: 0, total: 1 });
  });
});
