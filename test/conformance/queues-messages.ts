import { describe, expect, it } from 'vitest';
import { DEFAULT_QUEUE_LIMITS } from '../../src/queues/types.js';
import type { Message } from '../../src/queues/types.js';
import { CLAIM, clientId, docs, expectFault, freshQueue, newProject, queueWith, type QueuesRef } from './queues-support.js';

const MAX_POST = DEFAULT_QUEUE_LIMITS.maxMessagePostBytes;

/** Two messages whose JSON array is exactly `bytes` long. */
function postOfSize(bytes: number): Array<{ ttl: number; body: unknown }> {
  const base = JSON.stringify([{ ttl: 300, body: '' }, { ttl: 300, body: 'x' }]).length;
  return [{ ttl: 300, body: 'x'.repeat(bytes - base) }, { ttl: 300, body: 'x' }];
}

function expectMessageShape(m: Message): void {
  expect(typeof m.id).toBe('string');
  expect(m.ttl).toBeGreaterThanOrEqual(1);
  expect(m.ttl).toBeLessThanOrEqual(DEFAULT_QUEUE_LIMITS.maxMessageTtl);
  expect(m.age).toBeGreaterThanOrEqual(0);
  expect(m.claimId).toBeUndefined();
}

/** Section 10, messages: F-M01..F-M20 and U-13..U-24 at the domain level. */
export function describeMessageLines(h: QueuesRef): void {
  describe('messages (F-M, U-13..U-24)', () => {
    it('F-M01/F-M02 a posted message reads back with its body', async () => {
      const { project, name, ids } = await queueWith(h, 0 + 1);
      expect(ids).toHaveLength(1);
      const m = await h().queues.getMessage(project, name, ids[0] as string);
      expectMessageShape(m);
      expect(m).toMatchObject({ id: ids[0], ttl: 300, age: 0, body: { n: 0 } });
    });

    it('F-M03 a claimed message is listed only with include_claimed', async () => {
      const { project, name, poster } = await queueWith(h, 1);
      expect((await h().queues.claimMessages(project, name, { ttl: 300, grace: 100 }))?.messages).toHaveLength(1);
      const all = await h().queues.listMessages(project, name, { clientId: poster, includeClaimed: true, echo: true });
      expect(all.messages.map((m) => m.body)).toEqual([{ n: 0 }]);
      expect(await h().queues.listMessages(project, name, { clientId: poster })).toEqual({ messages: [] });
      expect(await h().queues.listMessages(project, name, { clientId: clientId() })).toEqual({ messages: [] });
    });

    it('F-M04 20 messages in one post read back by their ids', async () => {
      const { project, name, ids } = await queueWith(h, 20);
      const got = await h().queues.getMessages(project, name, ids);
      expect(got.map((m) => m.id).sort()).toEqual([...ids].sort());
    });

    it('F-M05 paging with echo visits every message once, then ends', async () => {
      for (const limit of [undefined, 5]) {
        const { project, name, ids, poster } = await queueWith(h, 20);
        const seen: string[] = [];
        let marker: string | undefined;
        for (;;) {
          const page = await h().queues.listMessages(project, name, { clientId: poster, echo: true, limit, marker });
          if (page.messages.length === 0) break;
          expect(page.messages.length).toBeLessThanOrEqual(limit ?? 10);
          seen.push(...page.messages.map((m) => m.id));
          marker = page.marker;
        }
        expect(seen).toEqual(ids);
      }
    });

    it('F-M06 a deleted message is gone', async () => {
      const { project, name, ids } = await queueWith(h, 1);
      await h().queues.deleteMessage(project, name, ids[0] as string);
      await expectFault(h().queues.getMessage(project, name, ids[0] as string), 'notFound');
    });

    it('F-M07 bulk delete by ids removes them all', async () => {
      const { project, name, ids } = await queueWith(h, 10);
      await h().queues.deleteMessages(project, name, ids);
      expect(await h().queues.getMessages(project, name, ids)).toEqual([]);
    });

    it('F-M08/F-M20 deleting a non-existing message is a no-op', async () => {
      const { project, name, ids } = await queueWith(h, 1);
      await h().queues.deleteMessage(project, name, 'non-existing');
      await h().queues.deleteMessage(project, name, 'non-existing-message');
      expect(await h().queues.getMessages(project, name, ids)).toHaveLength(1);
    });

    it('F-M09 bulk delete ignores unknown ids', async () => {
      const { project, name, ids } = await queueWith(h, 4);
      await h().queues.deleteMessages(project, name, [...ids.slice(0, 3), 'nonexisting']);
      expect((await h().queues.getMessages(project, name, ids)).map((m) => m.id)).toEqual([ids[3]]);
    });

    it('F-M10 get by ids skips unknown ids', async () => {
      const { project, name, ids } = await queueWith(h, 3);
      const got = await h().queues.getMessages(project, name, [...ids, 'nonexisting']);
      expect(got).toHaveLength(3);
      got.forEach(expectMessageShape);
    });

    it('F-M11/F-M12 a post of up to max bytes is taken; one byte more is not', async () => {
      const { project, name } = await freshQueue(h);
      for (const size of [MAX_POST - 10, MAX_POST - 1, MAX_POST]) {
        expect(await h().queues.postMessages(project, name, clientId(), postOfSize(size))).toHaveLength(2);
      }
      for (const size of [MAX_POST + 1, MAX_POST + 10]) {
        await expectFault(h().queues.postMessages(project, name, clientId(), postOfSize(size)), 'invalidApiCall');
      }
    });

    it('F-M13/U-14 list limits out of 1..20 are invalidApiCall', async () => {
      const { project, name } = await queueWith(h, 1);
      for (const limit of [1e19, -100, 0, 30, -1e19, 21, 2.5]) {
        await expectFault(h().queues.listMessages(project, name, { clientId: clientId(), limit }), 'invalidApiCall');
      }
    });

    it('F-M14/F-M15/U-14 more than 20 ids (or none) is invalidApiCall', async () => {
      const { project, name } = await queueWith(h, 1);
      const ids21 = Array.from({ length: 21 }, (_, i) => `id${i}`);
      await expectFault(h().queues.deleteMessages(project, name, ids21), 'invalidApiCall');
      await expectFault(h().queues.getMessages(project, name, ids21), 'invalidApiCall');
      await expectFault(h().queues.deleteMessages(project, name, [...ids21, 'x']), 'invalidApiCall');
      await expectFault(h().queues.getMessages(project, name, []), 'invalidApiCall');
    });

    it('F-M16/U-20 a malformed marker lists nothing; so does a missing queue', async () => {
      const { project, name } = await queueWith(h, 3);
      for (const marker of ['invalid', 'sfhlsfdjh2048', '-1', '1.5']) {
        expect(await h().queues.listMessages(project, name, { clientId: clientId(), marker })).toEqual({ messages: [] });
      }
      expect(await h().queues.listMessages(project, 'nothere', { clientId: clientId() })).toEqual({ messages: [] });
    });

    it('F-M17/U-16 a missing or malformed Client-ID is refused on post and list', async () => {
      const { project, name } = await queueWith(h, 1);
      const uuid = clientId();
      for (const bad of ['1234', 'aa2-bb3', `${uuid}a`, uuid.slice(0, -1), '0xdeadbeef']) {
        await expectFault(h().queues.listMessages(project, name, { clientId: bad }), 'invalidApiCall');
        await expectFault(h().queues.postMessages(project, name, bad, docs(1)), 'invalidApiCall');
      }
      for (const absent of [undefined, '']) {
        await expectFault(h().queues.listMessages(project, name, { clientId: absent }), 'missingHeader');
        await expectFault(h().queues.postMessages(project, name, absent, docs(1)), 'missingHeader');
      }
      const spellings = [uuid.toUpperCase(), uuid.replace(/-/g, ''), `{${uuid}}`, `urn:uuid:${uuid}`];
      for (const ok of spellings) expect(await h().queues.postMessages(project, name, ok, docs(1))).toHaveLength(1);
    });

    it('F-M18/F-M19 unknown ids: get one is notFound, get several is empty', async () => {
      const { project, name } = await queueWith(h, 1);
      await expectFault(h().queues.getMessage(project, name, 'non-existing-message'), 'notFound');
      await expectFault(h().queues.getMessage(project, name, 'ffffffffffffffffffffffff'), 'notFound');
      expect(await h().queues.getMessages(project, name, ['not_there1', 'not_there2'])).toEqual([]);
    });

    it('U-13 bodies of any JSON type; ids in order; other projects see nothing', async () => {
      const { project, name } = await freshQueue(h);
      const bodies = [239, { key: 'value' }, [1, 3], null, 'text'];
      const ids = await h().queues.postMessages(project, name, clientId(), bodies.map((body) => ({ ttl: 60 + bodies.indexOf(body), body })));
      expect(ids).toHaveLength(5);
      expect(new Set(ids).size).toBe(5);
      for (const [i, id] of ids.entries()) {
        const m = await h().queues.getMessage(project, name, id);
        expect(m).toMatchObject({ id, body: bodies[i], ttl: 60 + i });
        await expectFault(h().queues.getMessage(newProject(), name, id), 'notFound');
        await expectFault(h().queues.getMessage(null, name, id), 'notFound');
      }
      expect((await h().queues.getMessages(project, name, ids)).map((m) => m.ttl).sort()).toEqual([60, 61, 62, 63, 64]);
    });

    it('U-17 bad post bodies: invalidBody for the shape, invalidApiCall for ranges', async () => {
      const { project, name } = await freshQueue(h);
      for (const body of [undefined, {}, '.', [1], [null], [{ body: 1 }], [{ ttl: '300', body: 1 }], [{ ttl: 300 }], [{ ttl: 300.5, body: 1 }]]) {
        await expectFault(h().queues.postMessages(project, name, clientId(), body), 'invalidBody');
      }
      await expectFault(h().queues.postMessages(project, name, clientId(), []), 'invalidApiCall');
      for (const ttl of [-1, 59, 1209601]) {
        await expectFault(h().queues.postMessages(project, name, clientId(), [...docs(2), { ttl, body: 1 }]), 'invalidApiCall');
      }
      expect((await h().queues.getStats(project, name)).total).toBe(0);
      expect(await h().queues.postMessages(project, name, clientId(), [{ ttl: 60, body: 1 }, { ttl: 1209600, body: 2 }])).toHaveLength(2);
    });

    it('U-15 post: 64-char missing queue is notFound, 65 chars or non-ASCII is invalidQueue', async () => {
      const p = newProject();
      await expectFault(h().queues.postMessages(p, 'v'.repeat(64), clientId(), docs(1)), 'notFound');
      await expectFault(h().queues.postMessages(p, 'v'.repeat(65), clientId(), docs(1)), 'invalidQueue');
      await expectFault(h().queues.postMessages(p, 'qué', clientId(), docs(1)), 'invalidQueue');
    });

    it('U-18 delete twice, bulk delete, and after the queue is gone', async () => {
      const { project, name, ids } = await queueWith(h, 3);
      await h().queues.deleteMessage(project, name, ids[0] as string);
      await expectFault(h().queues.getMessage(project, name, ids[0] as string), 'notFound');
      await h().queues.deleteMessage(project, name, ids[0] as string);
      await h().queues.deleteMessages(project, name, ids);
      expect(await h().queues.getMessages(project, name, ids)).toEqual([]);
      await h().queues.deleteMessages(project, name, ids);
      await h().queues.deleteQueue(project, name);
      await h().queues.deleteMessages(project, name, ids);
    });

    it('U-19 ten messages in pages of 3: four pages, then nothing', async () => {
      const { project, name, ids, poster } = await queueWith(h, 10);
      const pages: string[][] = [];
      let marker: string | undefined;
      for (;;) {
        const page = await h().queues.listMessages(project, name, { clientId: poster, echo: true, limit: 3, marker });
        if (page.messages.length === 0) break;
        pages.push(page.messages.map((m) => m.id));
        marker = page.marker;
      }
      expect(pages.map((p) => p.length)).toEqual([3, 3, 3, 1]);
      expect(pages.flat()).toEqual(ids);
    });

    it('U-22 a missing queue: get one notFound, get/delete by ids empty', async () => {
      const p = newProject();
      await expectFault(h().queues.getMessage(p, 'notthere', 'a'), 'notFound');
      expect(await h().queues.getMessages(p, 'notthere', ['a', 'b', 'c'])).toEqual([]);
      await h().queues.deleteMessages(p, 'notthere', ['a', 'b', 'c']);
    });

    it('U-23 deleting an unclaimed message with a malformed claim id keeps it', async () => {
      const { project, name, ids } = await queueWith(h, 1);
      await h().queues.deleteMessage(project, name, ids[0] as string, 'invalid');
      expect((await h().queues.getMessage(project, name, ids[0] as string)).id).toBe(ids[0]);
    });

    it('8.4 echo hides only the requester\'s own messages, and only in listings', async () => {
      const { project, name, ids, poster } = await queueWith(h, 2);
      const otherIds = await h().queues.postMessages(project, name, clientId(), docs(1));
      const mine = await h().queues.listMessages(project, name, { clientId: poster.toUpperCase() });
      expect(mine.messages.map((m) => m.id)).toEqual(otherIds);
      expect((await h().queues.listMessages(project, name, { clientId: poster, echo: true })).messages).toHaveLength(3);
      expect(await h().queues.getMessages(project, name, ids)).toHaveLength(2);
    });
  });
}
