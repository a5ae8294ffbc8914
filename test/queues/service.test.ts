import { describe, expect, it } from 'vitest';
import { QueueService } from '../../src/queues/service.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { createTempDir } from '../helpers/tmp.js';
import { FakeClock } from '../helpers/fake-clock.js';

const CLAIM = { ttl: 60, grace: 60 };
const CLIENT = '3381af92-2b9e-11e3-b191-71861300734c';

describe('QueueService', () => {
  it('close() ends waiting claims and lists with nothing, and is idempotent', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const service = await QueueService.open(store, { sweepIntervalMs: 0 });
    await service.createQueue(null, 'q');
    const claim = service.claimMessages(null, 'q', CLAIM, { waitMs: 30_000 });
    const list = service.listMessages(null, 'q', { clientId: CLIENT, waitMs: 30_000 });
    await new Promise((r) => setTimeout(r, 20));
    const started = Date.now();
    await service.close();
    await service.close();
    expect(await claim).toBeNull();
    expect(await list).toEqual({ messages: [] });
    expect(Date.now() - started).toBeLessThan(5_000);
    await store.close();
  });

  it('a storage failure is the unavailable fault (spec 2.7: 503)', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const service = await QueueService.open(store, { sweepIntervalMs: 0 });
    await store.close();
    await expect(service.createQueue(null, 'q')).rejects.toMatchObject({ code: 'queues.unavailable', status: 503 });
    await expect(service.health()).rejects.toMatchObject({ code: 'queues.unavailable' });
    await expect(service.postMessages(null, 'q', CLIENT, [{ ttl: 60, body: 1 }])).rejects.toMatchObject({ code: 'queues.unavailable' });
    await service.close();
  });

  it('messages survive a restart of the SQLite file, and markers go on from where they were', async () => {
    const dir = await createTempDir('queues');
    try {
      const path = `${dir.path}/q.db`;
      let store = openSqliteStore({ path });
      let service = await QueueService.open(store, { sweepIntervalMs: 0 });
      await service.createQueue('p', 'q');
      const first = await service.postMessages('p', 'q', CLIENT, [{ ttl: 600, body: 'a' }]);
      const page = await service.listMessages('p', 'q', { clientId: CLIENT, echo: true });
      await service.close();
      await store.close();
      store = openSqliteStore({ path });
      service = await QueueService.open(store, { sweepIntervalMs: 0 });
      expect((await service.getMessage('p', 'q', first[0]!)).body).toBe('a');
      const second = await service.postMessages('p', 'q', CLIENT, [{ ttl: 600, body: 'b' }]);
      const next = await service.listMessages('p', 'q', { clientId: CLIENT, echo: true, marker: page.marker });
      expect(next.messages.map((m) => m.id)).toEqual(second);
      await service.close();
      await store.close();
    } finally {
      await dir.remove();
    }
  });

  it('the periodic sweep deletes expired messages from the store', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const clock = new FakeClock();
    const service = await QueueService.open(store, { clock, sweepIntervalMs: 50 });
    try {
      await service.createQueue('p', 'q');
      await service.postMessages('p', 'q', CLIENT, [{ ttl: 60, body: 1 }, { ttl: 60, body: 2 }, { ttl: 600, body: 3 }]);
      expect(await store.count('q/d/')).toBe(4);
      clock.advance(60_000);
      await expect.poll(() => store.count('q/d/'), { timeout: 10_000 }).toBe(2);
    } finally {
      await service.close();
      await store.close();
    }
  });

  it('refuses a per-post message limit below 20 (spec A1)', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    await expect(QueueService.open(store, { limits: { maxMessagesPerPost: 10 } })).rejects.toMatchObject({ code: 'queues.config' });
    const ok = await QueueService.open(store, { sweepIntervalMs: 0, limits: { maxMessagesPerPost: 20 } });
    await ok.close();
    await store.close();
  });

  it('a waiting claim wakes when a claim it skipped expires (no post, no release)', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    // Real time here, and a 1 s claim TTL (configurable limits) to keep the wait short.
    const service = await QueueService.open(store, { sweepIntervalMs: 0, limits: { minClaimTtl: 1, minClaimGrace: 1 } });
    try {
      await service.createQueue(null, 'q');
      const ids = await service.postMessages(null, 'q', CLIENT, [{ ttl: 60, body: 1 }]);
      const first = await service.claimMessages(null, 'q', { ttl: 1, grace: 1 });
      expect(first?.messages.map((m) => m.id)).toEqual(ids);
      const started = Date.now();
      const again = await service.claimMessages(null, 'q', { ttl: 60, grace: 60 }, { waitMs: 20_000 });
      expect(again?.messages.map((m) => m.id)).toEqual(ids);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await service.close();
      await store.close();
    }
  });

  it('waiting claimers get a post\'s messages in the post\'s own commit, oldest first, up to their limits', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const service = await QueueService.open(store, { sweepIntervalMs: 0 });
    try {
      await service.createQueue(null, 'q');
      const first = service.claimMessages(null, 'q', CLAIM, { limit: 2, waitMs: 20_000 });
      const second = service.claimMessages(null, 'q', CLAIM, { limit: 2, waitMs: 20_000 });
      await new Promise((r) => setTimeout(r, 50));
      const before = await store.revision();
      const ids = await service.postMessages(null, 'q', CLIENT, [1, 2, 3, 4, 5].map((n) => ({ ttl: 60, body: n })));
      const [a, b] = await Promise.all([first, second]);
      expect(await store.revision()).toBe(before + 1);
      expect(a?.messages.map((m) => m.id)).toEqual(ids.slice(0, 2));
      expect(b?.messages.map((m) => m.id)).toEqual(ids.slice(2, 4));
      expect(a?.messages[0]).toMatchObject({ body: 1, claimId: a?.id, age: 0, ttl: 120 });
      expect((await service.getClaim(null, 'q', b!.id)).messages.map((m) => m.id)).toEqual(ids.slice(2, 4));
      expect(await service.getStats(null, 'q')).toMatchObject({ claimed: 4, free: 1, total: 5 });
      await service.deleteMessage(null, 'q', ids[0]!, a!.id);
      await service.releaseClaim(null, 'q', b!.id);
      expect((await service.claimMessages(null, 'q', CLAIM, { limit: 5 }))?.messages.map((m) => m.id)).toEqual([ids[2], ids[3], ids[4]]);
    } finally {
      await service.close();
      await store.close();
    }
  });
});
