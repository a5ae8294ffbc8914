import { describe, expect, it } from 'vitest';
import { QueueService } from '../../src/queues/service.js';
import { openEtcdStore } from '../../src/store/etcd.js';
import type { Store } from '../../src/store/store.js';
import { silentLogger } from '../../src/observability/logger.js';
import { uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { etcdQueues } from '../helpers/queues.js';
import { CLAIM, clientId, docs } from './queues-support.js';
import { describeQueuesConformance } from './queues-suite.js';

// The whole queues suite on QueueService over the etcd Store, against a real etcd this file starts.
const etcd = useEtcd();
describeQueuesConformance(etcdQueues(() => etcd().endpoints));

/** Two QueueServices (two "servers"), each with its own etcd store connection, over one prefix. */
async function twoServers(): Promise<{ a: QueueService; b: QueueService; clock: FakeClock; close(): Promise<void> }> {
  const prefix = uniquePrefix();
  const clock = new FakeClock();
  const stores: Store[] = [];
  const services: QueueService[] = [];
  for (let i = 0; i < 2; i++) {
    const store = await openEtcdStore({ endpoints: etcd().endpoints, prefix, compactionIntervalMs: 0 });
    stores.push(store);
    services.push(await QueueService.open(store, { clock, logger: silentLogger(), sweepIntervalMs: 0 }));
  }
  return {
    a: services[0]!,
    b: services[1]!,
    clock,
    async close() {
      for (const s of services) await s.close();
      await stores[0]!.txn([], [{ type: 'deleteRange', start: '', end: '\uffff' }]).catch(() => undefined);
      for (const s of stores) await s.close();
    },
  };
}

describe('Queues: two servers over one etcd', () => {
  it('claims racing through both servers never share a message; every message is claimed once', async () => {
    const { a, b, close } = await twoServers();
    try {
      await a.createQueue('p', 'jobs');
      const posted: string[] = [];
      for (let i = 0; i < 6; i++) posted.push(...(await a.postMessages('p', 'jobs', clientId(), docs(20))));
      const taken: string[] = [];
      const worker = async (s: QueueService): Promise<void> => {
        for (;;) {
          const c = await s.claimMessages('p', 'jobs', CLAIM, { limit: 7 });
          if (c === null) return;
          taken.push(...c.messages.map((m) => m.id));
        }
      };
      await Promise.all([worker(a), worker(b), worker(a), worker(b)]);
      expect(new Set(taken).size).toBe(taken.length);
      expect([...taken].sort()).toEqual([...posted].sort());
      expect(await b.getStats('p', 'jobs')).toMatchObject({ claimed: 120, free: 0, total: 120 });
    } finally {
      await close();
    }
  });

  it('a claim made through one server is honoured by the other; its release wakes a waiter there', async () => {
    const { a, b, close } = await twoServers();
    try {
      await a.createQueue(null, 'jobs');
      const ids = await a.postMessages(null, 'jobs', clientId(), docs(3));
      const c = await a.claimMessages(null, 'jobs', CLAIM);
      expect(c?.messages).toHaveLength(3);
      expect(await b.claimMessages(null, 'jobs', CLAIM)).toBeNull();
      await expect(b.deleteMessage(null, 'jobs', ids[0]!)).rejects.toMatchObject({ code: 'queues.forbidden' });
      expect((await b.getClaim(null, 'jobs', c!.id)).messages.map((m) => m.id).sort()).toEqual([...ids].sort());
      const waiting = b.claimMessages(null, 'jobs', CLAIM, { waitMs: 20_000 });
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      await a.releaseClaim(null, 'jobs', c!.id);
      const again = await waiting;
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(again?.messages.map((m) => m.id).sort()).toEqual([...ids].sort());
    } finally {
      await close();
    }
  });

  it('posts through both servers interleave without losing or reordering a batch', async () => {
    const { a, b, close } = await twoServers();
    try {
      await a.createQueue('p', 'feed');
      const batches = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).postMessages('p', 'feed', clientId(), docs(3))));
      const order: string[] = [];
      let marker: string | undefined;
      for (;;) {
        const page = await b.listMessages('p', 'feed', { clientId: clientId(), limit: 20, marker });
        if (page.messages.length === 0) break;
        order.push(...page.messages.map((m) => m.id));
        marker = page.marker;
      }
      expect(order).toHaveLength(60);
      for (const batch of batches) expect(order.slice(order.indexOf(batch[0]!), order.indexOf(batch[0]!) + 3)).toEqual(batch);
    } finally {
      await close();
    }
  });

  it('a claim that expired is claimable through the other server; both sweeping at once is harmless', async () => {
    const { a, b, clock, close } = await twoServers();
    try {
      await a.createQueue('p', 'jobs');
      const ids = await a.postMessages('p', 'jobs', clientId(), [...docs(2, 60), ...docs(1, 3600)]);
      const first = await a.claimMessages('p', 'jobs', { ttl: 60, grace: 60 }, { limit: 1 });
      expect(first?.messages.map((m) => m.id)).toEqual([ids[0]]);
      expect((await b.claimMessages('p', 'jobs', CLAIM, { limit: 1 }))?.messages.map((m) => m.id)).toEqual([ids[1]]);
      clock.advance(100_000);
      // ids[0]: claim expired at 60 s, message lives to 120 s (grace); ids[1] is under b's claim; ids[2] is free.
      const again = await b.claimMessages('p', 'jobs', { ttl: 60, grace: 60 }, { limit: 5 });
      expect(again?.messages.map((m) => m.id).sort()).toEqual([ids[0], ids[2]].sort());
      clock.advance(3_600_000);
      const [sa, sb] = await Promise.all([a.sweep(), b.sweep()]);
      expect(sa.messages + sb.messages).toBeGreaterThanOrEqual(3);
      expect(await a.getStats('p', 'jobs')).toEqual({ claimed: 0, free: 0, total: 0 });
    } finally {
      await close();
    }
  });

  it('a pub-sub reader polling during posts through both servers never skips a message (spec 8.2)', async () => {
    const { a, b, close } = await twoServers();
    try {
      await a.createQueue('p', 'feed');
      const reader = clientId();
      const seen: string[] = [];
      let marker: string | undefined;
      let posting = true;
      const read = (async () => {
        for (;;) {
          const page = await b.listMessages('p', 'feed', { clientId: reader, limit: 20, marker });
          if (page.messages.length > 0) {
            seen.push(...page.messages.map((m) => m.id));
            marker = page.marker;
          } else if (!posting) return;
        }
      })();
      const posted = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).postMessages('p', 'feed', clientId(), docs(3))));
      posting = false;
      await read;
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen.length).toBe(120);
      expect([...seen].sort()).toEqual(posted.flat().sort());
    } finally {
      await close();
    }
  });
});
