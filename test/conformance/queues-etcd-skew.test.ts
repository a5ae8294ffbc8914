import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { QueueService } from '../../src/queues/service.js';
import { openEtcdStore } from '../../src/store/etcd.js';
import type { Store } from '../../src/store/store.js';
import { uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { clientId, docs } from './queues-support.js';

/**
 * Review 15 S2, what the README's Cloud Queues section states: claim expiry
 * is wall-clock time one server writes and another reads, so a server whose
 * clock runs δ ahead takes a claim over δ early. This pins that documented
 * limit (servers over one etcd need synchronized clocks); a change that
 * removes it (etcd leases for claims) must update the README with this test.
 */
const etcd = useEtcd();
const SKEW_MS = 1_500;

describe('Queues: two servers over one etcd with skewed clocks (README: clocks must agree)', () => {
  it(`a server ${SKEW_MS} ms ahead takes over a claim ${SKEW_MS} ms before its own server sees it expire`, async () => {
    const prefix = uniquePrefix();
    const start = Date.now();
    const clockA = new FakeClock(start);
    const clockB = new FakeClock(start + SKEW_MS);
    const stores: Store[] = [];
    const services: QueueService[] = [];
    try {
      for (const clock of [clockA, clockB]) {
        const store = await openEtcdStore({ endpoints: etcd().endpoints, prefix, compactionIntervalMs: 0 });
        stores.push(store);
        services.push(await QueueService.open(store, { clock, logger: silentLogger(), sweepIntervalMs: 0 }));
      }
      const [a, b] = services as [QueueService, QueueService];
      await a.createQueue('p', 'jobs');
      await a.postMessages('p', 'jobs', clientId(), docs(1));
      const first = await a.claimMessages('p', 'jobs', { ttl: 60, grace: 60 }, { limit: 1 });
      expect(first?.messages).toHaveLength(1);

      // Both clocks move 58 s: by B's, A's claim has 0.5 s left, and B leaves it alone.
      clockA.advance(58_000);
      clockB.advance(58_000);
      expect(await b.claimMessages('p', 'jobs', { ttl: 60, grace: 60 }, { limit: 1 })).toBeNull();
      // One more second: by B's clock the claim expired 0.5 s ago; by A's it has 1 s left.
      clockA.advance(1_000);
      clockB.advance(1_000);
      // A still calls its claim live, and B hands the message to a second claim.
      expect((await a.getClaim('p', 'jobs', first?.id as string)).messages).toHaveLength(1);
      expect((await b.claimMessages('p', 'jobs', { ttl: 60, grace: 60 }, { limit: 1 }))?.messages).toHaveLength(1);
    } finally {
      for (const s of services) await s.close();
      await stores[0]?.txn([], [{ type: 'deleteRange', start: '', end: '\uffff' }]).catch(() => undefined);
      for (const s of stores) await s.close();
    }
  });
});
