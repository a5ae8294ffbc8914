import { describe, expect, it } from 'vitest';
import { RegistryService } from '../../src/registry/service.js';
import { openEtcdStore } from '../../src/store/etcd.js';
import { uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { api, serviceBody, startServerFor, type RawReply } from '../server/helpers.js';

/**
 * A stalled etcd (SIGSTOP: connections stay open, nothing answers) past the
 * store's deadline while many long-polls share one page read: the read fails
 * with `store.unavailable` for all of them at once. Polls whose wait outlasts
 * the stall read again and answer 200 once etcd is back; a poll whose wait
 * ends during it answers the fault.
 */

const T = 'stall';
const etcd = useEtcd();

describe('events long-polls over a stalled etcd', () => {
  it('answer 200 after the stall when their wait outlasts it; 503 when it ends during it', async () => {
    // A short store deadline, so that the stall outlasts it quickly.
    const store = await openEtcdStore({ endpoints: etcd().endpoints, prefix: uniquePrefix(), timeoutMs: 1000, compactionIntervalMs: 0 });
    const registry = await RegistryService.open(store, { reaperIntervalMs: 0 });
    const server = await startServerFor(registry, {}, async () => {
      await registry.close();
      await store.close();
    });
    const member = etcd().members[0]!;
    try {
      const c = api(server.port, T);
      expect((await c.post('/services', serviceBody('svc-a'))).status).toBe(201);
      const first = (await c.get('/events')).json.values[0].id as string;
      expect((await c.post('/services', serviceBody('svc-b'))).status).toBe(201);
      // From the first event the page holds news, so every poll reads etcd (one read, shared).
      member.pause();
      let short: RawReply;
      let long: Promise<RawReply[]>;
      try {
        long = Promise.all(Array.from({ length: 20 }, () => c.get(`/events?marker=${first}&wait=30`)));
        short = await c.get(`/events?marker=${first}&wait=1`);
      } finally {
        member.resume();
      }
      // Its wait (1 s) ended in the stall, with its read (deadline 1 s): the fault.
      expect(short.status).toBe(503);
      expect(short.json).toMatchObject({ type: 'systemFailureError', code: 503 });
      // The others had failed as often (they share its read), and read again once etcd answered.
      const replies = await long;
      expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
      for (const r of replies) expect((r.json.values as Array<{ id: string }>).map((e) => e.id)).toContain(first);
      for (const r of replies) expect(r.json.values).toHaveLength(2);
    } finally {
      member.resume();
      await server.close();
    }
  }, 60_000);
});
