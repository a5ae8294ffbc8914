import { describe, expect, it } from 'vitest';
import { CLAIM, clientId, docs, freshQueue, queueWith, type QueuesRef } from './queues-support.js';

/** The waiting extension (issue 15 item 4): list and claim hold until a message is there or waitMs passes. */
export function describeWaiting(h: QueuesRef): void {
  describe('waiting (extension)', () => {
    it('a waiting list returns as soon as a message is posted', async () => {
      const { project, name } = await freshQueue(h);
      const started = Date.now();
      const waiting = h().queues.listMessages(project, name, { clientId: clientId(), waitMs: 20_000 });
      await new Promise((r) => setTimeout(r, 50));
      const ids = await h().queues.postMessages(project, name, clientId(), docs(1));
      const page = await waiting;
      expect(page.messages.map((m) => m.id)).toEqual(ids);
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    it('a waiting claim takes a message posted meanwhile', async () => {
      const { project, name } = await freshQueue(h);
      const waiting = h().queues.claimMessages(project, name, CLAIM, { waitMs: 20_000 });
      await new Promise((r) => setTimeout(r, 50));
      const ids = await h().queues.postMessages(project, name, clientId(), docs(1));
      const c = await waiting;
      expect(c?.messages.map((m) => m.id)).toEqual(ids);
    });

    it('a waiting claim takes messages a release frees', async () => {
      const { project, name, ids } = await queueWith(h, 2);
      const first = await h().queues.claimMessages(project, name, CLAIM);
      const waiting = h().queues.claimMessages(project, name, CLAIM, { waitMs: 20_000 });
      await new Promise((r) => setTimeout(r, 50));
      await h().queues.releaseClaim(project, name, first!.id);
      const c = await waiting;
      expect(c?.messages.map((m) => m.id).sort()).toEqual([...ids].sort());
    });

    it('with nothing to take, a wait ends empty after about waitMs', async () => {
      const { project, name } = await freshQueue(h);
      const started = Date.now();
      expect(await h().queues.claimMessages(project, name, CLAIM, { waitMs: 300 })).toBeNull();
      expect(await h().queues.listMessages(project, name, { clientId: clientId(), waitMs: 300 })).toEqual({ messages: [] });
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(550);
      expect(took).toBeLessThan(10_000);
    });

    it('an aborted wait rejects with the signal reason', async () => {
      const { project, name } = await freshQueue(h);
      const ctrl = new AbortController();
      const waiting = h().queues.claimMessages(project, name, CLAIM, { waitMs: 20_000 }, ctrl.signal);
      setTimeout(() => ctrl.abort(new Error('stop waiting')), 50);
      await expect(waiting).rejects.toThrow('stop waiting');
    });

    it('waiting consumers and concurrent producers: every message is claimed and deleted exactly once', async () => {
      const { project, name } = await freshQueue(h);
      const taken: string[] = [];
      let producing = true;
      const consumer = async (): Promise<void> => {
        for (;;) {
          const c = await h().queues.claimMessages(project, name, CLAIM, { limit: 2, waitMs: producing ? 2_000 : 0 });
          if (c === null) {
            if (producing) continue;
            return;
          }
          for (const m of c.messages) {
            taken.push(m.id);
            await h().queues.deleteMessage(project, name, m.id, c.id);
          }
        }
      };
      const consumers = Array.from({ length: 6 }, () => consumer());
      const producer = async (): Promise<string[]> => {
        const ids: string[] = [];
        for (let i = 0; i < 10; i++) ids.push(...(await h().queues.postMessages(project, name, clientId(), docs(3))));
        return ids;
      };
      const posted = (await Promise.all(Array.from({ length: 4 }, () => producer()))).flat();
      producing = false;
      await Promise.all(consumers);
      expect(new Set(taken).size).toBe(taken.length);
      expect([...taken].sort()).toEqual([...posted].sort());
      expect(await h().queues.getStats(project, name)).toEqual({ claimed: 0, free: 0, total: 0 });
    });
  });
}
