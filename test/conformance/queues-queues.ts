import { describe, expect, it } from 'vitest';
import { DEFAULT_QUEUE_LIMITS } from '../../src/queues/types.js';
import { clientId, CLAIM, docs, expectFault, freshQueue, newProject, queueWith, type QueuesRef } from './queues-support.js';

const MAX_META = DEFAULT_QUEUE_LIMITS.maxMetadataBytes;

/** A metadata document whose JSON is exactly `bytes` long. */
function metaOfSize(bytes: number): Record<string, unknown> {
  return { a: 'x'.repeat(bytes - '{"a":""}'.length) };
}

/** Section 10, queues: F-Q01..F-Q20 and U-01..U-10 at the domain level. */
export function describeQueueLines(h: QueuesRef): void {
  describe('queues (F-Q, U-01..U-10)', () => {
    it('F-Q01/F-Q02 valid names are created, and their metadata is {}', async () => {
      const p = newProject();
      for (const name of ['qtestqueue', 'TESTqueue', 'hyphen-name', '_undersore', 'i'.repeat(64)]) {
        expect(await h().queues.createQueue(p, name)).toBe(true);
        expect(await h().queues.getMetadata(p, name)).toEqual({});
      }
      expect(await h().queues.queueExists(p, 'testqueue')).toBe(false);
    });

    it('F-Q03 invalid names are invalidQueue on create and on metadata', async () => {
      const p = newProject();
      for (const name of ['汉字漢字', '@$@^qw', 'i'.repeat(65)]) {
        await expectFault(h().queues.createQueue(p, name), 'invalidQueue');
        await expectFault(h().queues.getMetadata(p, name), 'invalidQueue');
      }
    });

    it('F-Q06 a queue without a project (global namespace) is created', async () => {
      const name = `g${Date.now()}`;
      expect(await h().queues.createQueue(null, name)).toBe(true);
      expect(await h().queues.createQueue(null, name)).toBe(false);
      expect(await h().queues.queueExists(null, name)).toBe(true);
      await h().queues.deleteQueue(null, name);
    });

    it('F-Q07 a queue is created without metadata', async () => {
      const { project, name } = await freshQueue(h);
      expect(await h().queues.getMetadata(project, name)).toEqual({});
    });

    it('F-Q08 metadata documents round-trip exactly', async () => {
      const { project, name } = await freshQueue(h);
      const cases = [{}, { _queue: 'x' }, { '@queue': 'x' }, { 汉字: 'Unicode: 汉字' }, { queue: '#$%^&Apple' }, { queue: 'i'.repeat(65000) }];
      for (const doc of cases) {
        await h().queues.setMetadata(project, name, doc);
        expect(await h().queues.getMetadata(project, name)).toEqual(doc);
      }
    });

    it('F-Q09 metadata that is not an object, or too large, is refused', async () => {
      const { project, name } = await freshQueue(h);
      await expectFault(h().queues.setMetadata(project, name, 'not_a_dict'), 'invalidBody');
      await expectFault(h().queues.setMetadata(project, name, { queue: 'i'.repeat(65537) }), 'invalidApiCall');
      expect(await h().queues.getMetadata(project, name)).toEqual({});
    });

    it('F-Q10/F-Q11 list has the queues by name; detailed adds metadata', async () => {
      const p = newProject();
      await h().queues.createQueue(p, 'b');
      await h().queues.createQueue(p, 'a');
      await h().queues.setMetadata(p, 'a', { node: 31 });
      expect(await h().queues.listQueues(p)).toEqual({ queues: [{ name: 'a' }, { name: 'b' }] });
      expect(await h().queues.listQueues(p, { detailed: true })).toEqual({
        queues: [
          { name: 'a', metadata: { node: 31 } },
          { name: 'b', metadata: {} },
        ],
      });
    });

    it('F-Q12 list limits 0, -1, 1001 are invalidApiCall', async () => {
      for (const limit of [0, -1, 1001]) await expectFault(h().queues.listQueues(newProject(), { limit }), 'invalidApiCall');
    });

    it('F-Q13 health resolves', async () => {
      await expect(h().queues.health()).resolves.toBeUndefined();
    });

    it('F-Q14/F-Q15 exists: true for a queue, false for a missing one', async () => {
      const { project, name } = await freshQueue(h);
      expect(await h().queues.queueExists(project, name)).toBe(true);
      expect(await h().queues.queueExists(project, 'nonexistingqueue')).toBe(false);
    });

    it('F-Q16 marker past the end lists nothing', async () => {
      const { project } = await freshQueue(h);
      expect(await h().queues.listQueues(project, { marker: 'zzz' })).toEqual({ queues: [] });
    });

    it('F-Q17 stats of a new queue are exactly zero counts', async () => {
      const { project, name } = await freshQueue(h);
      expect(await h().queues.getStats(project, name)).toEqual({ claimed: 0, free: 0, total: 0 });
    });

    it('F-Q18/F-Q19 stats count claimed and free; oldest/newest point at live messages', async () => {
      for (const claimed of [0, 1]) {
        const { project, name, ids } = await queueWith(h, 20);
        if (claimed) expect((await h().queues.claimMessages(project, name, CLAIM, { limit: 1 }))?.messages).toHaveLength(1);
        const stats = await h().queues.getStats(project, name);
        expect(stats).toMatchObject({ claimed, free: 20 - claimed, total: 20 });
        for (const end of [stats.oldest, stats.newest]) {
          expect(Object.keys(end ?? {}).sort()).toEqual(['age', 'created', 'id']);
          expect(end?.age).toBeGreaterThanOrEqual(0);
          expect(end?.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
          expect(Math.abs(Date.parse(end?.created ?? '') - h().clock.now())).toBeLessThan(6000 * 1000);
        }
        expect(stats.oldest?.id).toBe(ids[0]);
        expect(stats.newest?.id).toBe(ids[19]);
        expect((await h().queues.getMessage(project, name, stats.oldest?.id ?? '')).id).toBe(ids[0]);
      }
    });

    it('F-Q20 a queue never created: 404s, empty lists, null claim, delete no-op', async () => {
      const p = newProject();
      const q = '0a5b1b85-4263-11e3-b034-28cfe91478b9';
      expect(await h().queues.queueExists(p, q)).toBe(false);
      await expectFault(h().queues.getStats(p, q), 'notFound');
      await expectFault(h().queues.getMetadata(p, q), 'notFound');
      expect(await h().queues.listMessages(p, q, { clientId: clientId() })).toEqual({ messages: [] });
      await expectFault(h().queues.postMessages(p, q, clientId(), [{ ttl: 200, body: { Home: '' } }]), 'notFound');
      expect(await h().queues.claimMessages(p, q, { ttl: 200, grace: 300 })).toBeNull();
      await h().queues.deleteQueue(p, q);
      expect(await h().queues.queueExists(p, q)).toBe(false);
    });

    it('U-01 an empty project id is emptyProject', async () => {
      await expectFault(h().queues.createQueue('', 'q'), 'emptyProject');
      await expectFault(h().queues.queueExists('', 'q'), 'emptyProject');
      await expectFault(h().queues.deleteQueue('', 'q'), 'emptyProject');
      await expectFault(h().queues.getMetadata('', 'q'), 'emptyProject');
      await expectFault(h().queues.listQueues(''), 'emptyProject');
    });

    it('U-02 lifecycle for project 480924, foo and none', async () => {
      const name = `life${Date.now()}`;
      for (const p of ['480924', 'foo', null]) {
        await expectFault(h().queues.getStats(p, name), 'notFound');
        await expectFault(h().queues.getMetadata(p, name), 'notFound');
        expect(await h().queues.createQueue(p, name)).toBe(true);
        expect(await h().queues.queueExists(p, name)).toBe(true);
        await h().queues.setMetadata(p, name, { messages: { ttl: 600 } });
        expect(await h().queues.getMetadata(p, name)).toEqual({ messages: { ttl: 600 } });
        expect((await h().queues.getStats(p, name)).total).toBe(0);
        await h().queues.deleteQueue(p, name);
        expect(await h().queues.queueExists(p, name)).toBe(false);
        await expectFault(h().queues.getStats(p, name), 'notFound');
        await expectFault(h().queues.getMetadata(p, name), 'notFound');
      }
    });

    it('U-03 Nice-Boat_2 is valid; Nice-Bo@t and a 65-char name are not', async () => {
      const p = newProject();
      expect(await h().queues.createQueue(p, 'Nice-Boat_2')).toBe(true);
      await expectFault(h().queues.createQueue(p, 'Nice-Bo@t'), 'invalidQueue');
      await expectFault(h().queues.createQueue(p, `_${'niceboat'.repeat(8)}`), 'invalidQueue');
    });

    it('U-04 a 264-char project id is invalidQueue; "JAM Project" works', async () => {
      await expectFault(h().queues.createQueue('JAM Project'.repeat(24), 'q'), 'invalidQueue');
      const p = `JAM Project ${Date.now()}`;
      expect(await h().queues.createQueue(p, 'q')).toBe(true);
      expect(await h().queues.queueExists(`${p}x`, 'q')).toBe(false);
    });

    it('U-05 a non-ASCII queue name is invalidQueue on create, exists and delete', async () => {
      for (const name of ['qué', 'caf\u00e9']) {
        await expectFault(h().queues.createQueue(newProject(), name), 'invalidQueue');
        await expectFault(h().queues.queueExists(newProject(), name), 'invalidQueue');
        await expectFault(h().queues.deleteQueue(newProject(), name), 'invalidQueue');
      }
    });

    it('U-06 metadata that is absent or not an object is invalidBody', async () => {
      const { project, name } = await freshQueue(h);
      for (const doc of [undefined, [], '.', '  ', null, 3]) await expectFault(h().queues.setMetadata(project, name, doc), 'invalidBody');
    });

    it('U-07 metadata of max+2 bytes is refused; max-7 bytes round-trips', async () => {
      const { project, name } = await freshQueue(h);
      await expectFault(h().queues.setMetadata(project, name, metaOfSize(MAX_META + 2)), 'invalidApiCall');
      await expectFault(h().queues.setMetadata(project, name, metaOfSize(MAX_META * 100)), 'invalidApiCall');
      const doc = metaOfSize(MAX_META - 7);
      await h().queues.setMetadata(project, name, doc);
      expect(await h().queues.getMetadata(project, name)).toEqual(doc);
      await h().queues.setMetadata(project, name, metaOfSize(MAX_META));
    });

    it('U-08 a second metadata write replaces the first', async () => {
      const { project, name } = await freshQueue(h);
      await h().queues.setMetadata(project, name, { a: 1, b: 2 });
      await h().queues.setMetadata(project, name, { c: 3 });
      expect(await h().queues.getMetadata(project, name)).toEqual({ c: 3 });
    });

    it('U-09 listing: empty, limit 21, namespaces, detailed pages, next past the end', async () => {
      const p = newProject();
      const other = newProject();
      expect(await h().queues.listQueues(p)).toEqual({ queues: [] });
      await expectFault(h().queues.listQueues(p, { limit: 21 }), 'invalidApiCall');
      for (const n of ['q1', 'q2', 'q3']) await h().queues.createQueue(p, n);
      await h().queues.createQueue(other, 'q1');
      await h().queues.createQueue(other, 'zz');
      const page = await h().queues.listQueues(p, { limit: 2, detailed: true });
      expect(page.queues.map((q) => q.name)).toEqual(['q1', 'q2']);
      expect(page.queues.every((q) => q.metadata !== undefined)).toBe(true);
      const rest = await h().queues.listQueues(p, { limit: 2, marker: 'q2' });
      expect(rest).toEqual({ queues: [{ name: 'q3' }] });
      expect(await h().queues.listQueues(p, { limit: 2, marker: 'q3' })).toEqual({ queues: [] });
      expect(await h().queues.listQueues(p, { marker: 'zzz' })).toEqual({ queues: [] });
      const globals = (await h().queues.listQueues(null, { limit: 20 })).queues.map((q) => q.name);
      expect(globals).not.toContain('q1');
    });

    it('U-10 defaults: 10 queues, 10 messages, 10 claimed', async () => {
      const p = newProject();
      for (let i = 0; i < 12; i++) await h().queues.createQueue(p, `q${String(i).padStart(2, '0')}`);
      expect((await h().queues.listQueues(p)).queues).toHaveLength(10);
      const ids = await h().queues.postMessages(p, 'q00', clientId(), docs(12));
      expect(ids).toHaveLength(12);
      expect((await h().queues.listMessages(p, 'q00', { clientId: clientId() })).messages).toHaveLength(10);
      expect((await h().queues.claimMessages(p, 'q00', CLAIM))?.messages).toHaveLength(10);
    });
  });
}
