import { describe, expect, it } from 'vitest';
import { CLAIM, clientId, docs, expectFault, freshQueue, queueWith, SECOND, type QueuesRef } from './queues-support.js';

/** Spec section 8 (lifecycle, markers, claims) with the harness's fake clock, beyond the checklist lines. */
export function describeSemantics(h: QueuesRef): void {
  describe('semantics (spec 8, A8, A13, A19)', () => {
    it('8.1 a message expires at its ttl: not read, listed, counted or claimed', async () => {
      const { project, name, ids, poster } = await queueWith(h, 2, 60);
      h().clock.advance(59 * SECOND);
      expect((await h().queues.getMessage(project, name, ids[0]!)).age).toBe(59);
      h().clock.advance(1 * SECOND);
      await expectFault(h().queues.getMessage(project, name, ids[0]!), 'notFound');
      expect(await h().queues.getMessages(project, name, ids)).toEqual([]);
      expect(await h().queues.listMessages(project, name, { clientId: poster, echo: true })).toEqual({ messages: [] });
      expect(await h().queues.getStats(project, name)).toEqual({ claimed: 0, free: 0, total: 0 });
      expect(await h().queues.claimMessages(project, name, CLAIM)).toBeNull();
    });

    it('8.3 an expired claim frees its messages; its id then deletes nothing (A8: 403)', async () => {
      const { project, name } = await queueWith(h, 2, 600);
      const c = await h().queues.claimMessages(project, name, { ttl: 60, grace: 60 });
      h().clock.advance(60 * SECOND);
      await expectFault(h().queues.getClaim(project, name, c!.id), 'notFound');
      await expectFault(h().queues.renewClaim(project, name, c!.id, { ttl: 60 }), 'notFound');
      await expectFault(h().queues.deleteMessage(project, name, c!.messages[0]!.id, c!.id), 'forbidden');
      expect((await h().queues.getStats(project, name)).free).toBe(2);
      expect((await h().queues.listMessages(project, name, { clientId: clientId() })).messages).toHaveLength(2);
      const again = await h().queues.claimMessages(project, name, CLAIM);
      expect(again?.messages.map((m) => m.id).sort()).toEqual(c!.messages.map((m) => m.id).sort());
      await h().queues.deleteMessage(project, name, c!.messages[0]!.id, again!.id);
      await expectFault(h().queues.deleteMessage(project, name, c!.messages[1]!.id), 'forbidden');
      await expectFault(h().queues.getMessage(project, name, c!.messages[0]!.id), 'notFound');
    });

    it('6.1/A13 a claim extends a message to claim expiry + grace; ttl - age stays the remaining life', async () => {
      const { project, name, ids } = await queueWith(h, 1, 60);
      const c = await h().queues.claimMessages(project, name, { ttl: 100, grace: 60 });
      expect(c?.messages[0]).toMatchObject({ ttl: 160, age: 0 });
      h().clock.advance(159 * SECOND);
      expect(await h().queues.getMessage(project, name, ids[0]!)).toMatchObject({ ttl: 160, age: 159 });
      h().clock.advance(1 * SECOND);
      await expectFault(h().queues.getMessage(project, name, ids[0]!), 'notFound');
    });

    it('6.3/A19 a renewal extends messages to the new claim expiry, without grace; a release keeps it', async () => {
      const { project, name, ids } = await queueWith(h, 1, 60);
      const c = await h().queues.claimMessages(project, name, { ttl: 60, grace: 60 });
      h().clock.advance(50 * SECOND);
      await h().queues.renewClaim(project, name, c!.id, { ttl: 300 });
      expect(await h().queues.getMessage(project, name, ids[0]!)).toMatchObject({ ttl: 350, age: 50 });
      await h().queues.releaseClaim(project, name, c!.id);
      h().clock.advance(299 * SECOND);
      expect((await h().queues.getMessage(project, name, ids[0]!)).ttl).toBe(350);
      h().clock.advance(1 * SECOND);
      await expectFault(h().queues.getMessage(project, name, ids[0]!), 'notFound');
    });

    it('8.2 markers: FIFO, a pub-sub reader sees only what was posted after its marker', async () => {
      const { project, name, ids } = await queueWith(h, 3);
      const reader = clientId();
      const first = await h().queues.listMessages(project, name, { clientId: reader, limit: 20 });
      expect(first.messages.map((m) => m.id)).toEqual(ids);
      expect(await h().queues.listMessages(project, name, { clientId: reader, marker: first.marker })).toEqual({ messages: [] });
      const more = await h().queues.postMessages(project, name, clientId(), docs(2));
      const next = await h().queues.listMessages(project, name, { clientId: reader, marker: first.marker });
      expect(next.messages.map((m) => m.id)).toEqual(more);
      expect(Number(next.marker)).toBeGreaterThan(Number(first.marker));
    });

    it('4.3 a recreated queue starts empty; ids of the old one are unknown', async () => {
      const { project, name, ids } = await queueWith(h, 2);
      await h().queues.deleteQueue(project, name);
      expect(await h().queues.createQueue(project, name)).toBe(true);
      expect(await h().queues.getMetadata(project, name)).toEqual({});
      const fresh = await h().queues.postMessages(project, name, clientId(), docs(2));
      expect(await h().queues.getMessages(project, name, ids)).toEqual([]);
      expect((await h().queues.getMessages(project, name, fresh)).map((m) => m.id).sort()).toEqual([...fresh].sort());
    });

    it('8.2 concurrent posts: every batch keeps consecutive markers and is seen whole', async () => {
      const { project, name } = await freshQueue(h);
      const batches = await Promise.all(Array.from({ length: 30 }, () => h().queues.postMessages(project, name, clientId(), docs(3))));
      const order: string[] = [];
      let marker: string | undefined;
      for (;;) {
        const page = await h().queues.listMessages(project, name, { clientId: clientId(), limit: 20, marker });
        if (page.messages.length === 0) break;
        order.push(...page.messages.map((m) => m.id));
        marker = page.marker;
      }
      expect(order).toHaveLength(90);
      for (const b of batches) {
        const at = order.indexOf(b[0]!);
        expect(order.slice(at, at + 3)).toEqual(b);
      }
    });

    it('8.2 a pub-sub reader polling during concurrent posts never skips a message', async () => {
      const { project, name } = await freshQueue(h);
      const reader = clientId();
      const seen: string[] = [];
      let marker: string | undefined;
      let posting = true;
      const read = (async () => {
        for (;;) {
          const page = await h().queues.listMessages(project, name, { clientId: reader, limit: 7, marker });
          if (page.messages.length > 0) {
            seen.push(...page.messages.map((m) => m.id));
            marker = page.marker;
          } else if (!posting) return;
          else await new Promise((r) => setImmediate(r));
        }
      })();
      const posted = await Promise.all(Array.from({ length: 40 }, () => h().queues.postMessages(project, name, clientId(), docs(3))));
      posting = false;
      await read;
      expect(seen).toHaveLength(120);
      expect([...seen].sort()).toEqual(posted.flat().sort());
    });

    it('8.3 concurrent claims never hand one message to two live claims', async () => {
      const { project, name, ids } = await queueWith(h, 100);
      const claims = await Promise.all(Array.from({ length: 25 }, () => h().queues.claimMessages(project, name, CLAIM, { limit: 5 })));
      const taken = claims.flatMap((c) => c?.messages.map((m) => m.id) ?? []);
      expect(new Set(taken).size).toBe(taken.length);
      for (;;) {
        const c = await h().queues.claimMessages(project, name, CLAIM, { limit: 20 });
        if (c === null) break;
        taken.push(...c.messages.map((m) => m.id));
      }
      expect([...taken].sort()).toEqual([...ids].sort());
      expect(await h().queues.getStats(project, name)).toMatchObject({ claimed: 100, free: 0 });
    });

    it('A14 the sweep deletes expired messages and claims; live ones stay', async () => {
      const { project, name } = await queueWith(h, 3, 60);
      const keep = await h().queues.postMessages(project, name, clientId(), docs(1, 600));
      const c = await h().queues.claimMessages(project, name, { ttl: 60, grace: 60 }, { limit: 1 });
      expect(c?.messages[0]?.ttl).toBe(120);
      h().clock.advance(121 * SECOND);
      const swept = await h().service.sweep();
      expect(swept.messages).toBeGreaterThanOrEqual(3);
      expect(swept.claims).toBeGreaterThanOrEqual(1);
      expect((await h().queues.getStats(project, name)).total).toBe(1);
      expect((await h().queues.getMessage(project, name, keep[0]!)).id).toBe(keep[0]);
    });
  });
}
