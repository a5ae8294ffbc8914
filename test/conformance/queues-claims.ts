import { describe, expect, it } from 'vitest';
import type { Claim } from '../../src/queues/types.js';
import { CLAIM, clientId, expectFault, expectRangeFault, newProject, queueWith, type QueuesRef } from './queues-support.js';

const BAD_TTLS = [1e19, -100, 1, 59, 43201, -1e19];

function claimed(c: Claim | null): Claim {
  expect(c).not.toBeNull();
  return c as Claim;
}

/** Section 10, claims: F-C01..F-C13, U-21 and U-25..U-31 at the domain level. */
export function describeClaimLines(h: QueuesRef): void {
  describe('claims (F-C, U-21, U-25..U-31)', () => {
    it('F-C01 a claim takes at most limit messages, each tagged with the claim', async () => {
      const { project, name } = await queueWith(h, 40);
      const c = claimed(await h().queues.claimMessages(project, name, { ttl: 300, grace: 100 }));
      expect(c.messages.length).toBeGreaterThan(0);
      expect(c.messages.length).toBeLessThanOrEqual(10);
      for (const m of c.messages) {
        expect(m.claimId).toBe(c.id);
        expect(m.ttl).toBeGreaterThanOrEqual(1);
        expect(m.age).toBeGreaterThanOrEqual(0);
      }
      expect(claimed(await h().queues.claimMessages(project, name, { ttl: 300, grace: 100 }, { limit: 2 })).messages.length).toBeLessThanOrEqual(2);
    });

    it('F-C02 a claim of one reads back with ttl, age and its message', async () => {
      const { project, name } = await queueWith(h, 3);
      const c = claimed(await h().queues.claimMessages(project, name, CLAIM, { limit: 1 }));
      const got = await h().queues.getClaim(project, name, c.id);
      expect(got).toMatchObject({ id: c.id, ttl: 300 });
      expect(got.age).toBeGreaterThanOrEqual(0);
      expect(got.messages.map((m) => m.id)).toEqual(c.messages.map((m) => m.id));
    });

    it('F-C03 a claim limit of 21 is invalidApiCall', async () => {
      const { project, name } = await queueWith(h, 1);
      await expectFault(h().queues.claimMessages(project, name, CLAIM, { limit: 21 }), 'invalidApiCall');
    });

    it('F-C04 a renewal sets the claim ttl', async () => {
      const { project, name } = await queueWith(h, 3);
      const c = claimed(await h().queues.claimMessages(project, name, { ttl: 300, grace: 400 }));
      await h().queues.renewClaim(project, name, c.id, { ttl: 600 });
      expect((await h().queues.getClaim(project, name, c.id)).ttl).toBe(600);
      await h().queues.renewClaim(project, name, c.id, { ttl: 300 });
      expect((await h().queues.getClaim(project, name, c.id)).ttl).toBe(300);
    });

    it('F-C05 each claimed message deletes with its claim id', async () => {
      const { project, name } = await queueWith(h, 3);
      const c = claimed(await h().queues.claimMessages(project, name, { ttl: 60, grace: 60 }));
      for (const m of c.messages) await h().queues.deleteMessage(project, name, m.id, m.claimId);
      expect(await h().queues.getMessages(project, name, c.messages.map((m) => m.id))).toEqual([]);
    });

    it('F-C06 a released claim is gone', async () => {
      const { project, name } = await queueWith(h, 3);
      const c = claimed(await h().queues.claimMessages(project, name, CLAIM));
      await h().queues.releaseClaim(project, name, c.id);
      await expectFault(h().queues.getClaim(project, name, c.id), 'notFound');
    });

    it('F-C07/F-C08/F-C09 claim ttl and grace out of range are refused', async () => {
      const { project, name } = await queueWith(h, 1);
      for (const ttl of BAD_TTLS) await expectRangeFault(h().queues.claimMessages(project, name, { ttl, grace: 100 }), ttl);
      for (const grace of [...BAD_TTLS, 0, 30]) await expectRangeFault(h().queues.claimMessages(project, name, { ttl: 100, grace }), grace);
      expect((await h().queues.getStats(project, name)).claimed).toBe(0);
    });

    it('F-C10 renewal ttl out of range is refused', async () => {
      const { project, name } = await queueWith(h, 1);
      const c = claimed(await h().queues.claimMessages(project, name, { ttl: 100, grace: 100 }));
      for (const ttl of BAD_TTLS) await expectRangeFault(h().queues.renewClaim(project, name, c.id, { ttl }), ttl);
      expect((await h().queues.getClaim(project, name, c.id)).ttl).toBe(100);
    });

    it('F-C11/F-C12/F-C13 a non-existing claim: get and renew notFound, release no-op', async () => {
      const { project, name } = await queueWith(h, 1);
      await expectFault(h().queues.getClaim(project, name, 'non-existing-claim'), 'notFound');
      await expectFault(h().queues.renewClaim(project, name, 'non-existing-claim', { ttl: 400 }), 'notFound');
      await expectFault(h().queues.getClaim(project, name, 'ffffffffffffffffffffffff'), 'notFound');
      await h().queues.releaseClaim(project, name, 'non-existing-claim');
    });

    it('U-21 releasing a claim makes its messages listable again', async () => {
      const { project, name } = await queueWith(h, 2);
      const c = claimed(await h().queues.claimMessages(project, name, CLAIM));
      expect(await h().queues.listMessages(project, name, { clientId: clientId() })).toEqual({ messages: [] });
      await h().queues.releaseClaim(project, name, c.id);
      expect((await h().queues.listMessages(project, name, { clientId: clientId() })).messages).toHaveLength(2);
      expect(claimed(await h().queues.claimMessages(project, name, CLAIM)).messages).toHaveLength(2);
    });

    it('U-25 claim and renew bodies of the wrong shape are invalidBody', async () => {
      const { project, name } = await queueWith(h, 1);
      const c = claimed(await h().queues.claimMessages(project, name, CLAIM, { limit: 1 }));
      for (const body of [undefined, '[', [], {}, '.', 'fail', { ttl: 100 }, { grace: 100 }, { ttl: '100', grace: 100 }, { ttl: 100.5, grace: 100 }]) {
        await expectFault(h().queues.claimMessages(project, name, body), 'invalidBody');
      }
      for (const body of [undefined, [], {}, 'fail', { ttl: '100' }]) await expectFault(h().queues.renewClaim(project, name, c.id, body), 'invalidBody');
    });

    it('U-26 claim limit and (ttl, grace) pairs out of range; renew ttl out of range', async () => {
      const { project, name } = await queueWith(h, 1);
      await expectFault(h().queues.claimMessages(project, name, CLAIM, { limit: 21 }), 'invalidApiCall');
      for (const [ttl, grace] of [[-1, -1], [59, 60], [60, 59], [60, 43201], [43201, 60]] as const) {
        await expectFault(h().queues.claimMessages(project, name, { ttl, grace }), 'invalidApiCall');
      }
      const c = claimed(await h().queues.claimMessages(project, name, { ttl: 60, grace: 60 }));
      for (const ttl of [-1, 59, 43201]) await expectFault(h().queues.renewClaim(project, name, c.id, { ttl }), 'invalidApiCall');
    });

    it('U-27..U-30 the claim lifecycle of the unit tests', async () => {
      const { project, name } = await queueWith(h, 10);
      const c = claimed(await h().queues.claimMessages(project, name, { ttl: 100, grace: 60 }));
      expect(c.messages).toHaveLength(10);
      expect(await h().queues.claimMessages(project, name, { ttl: 100, grace: 60 }, { limit: 3 })).toBeNull();
      expect(await h().queues.listMessages(project, name, { clientId: clientId() })).toEqual({ messages: [] });
      const listed = await h().queues.listMessages(project, name, { clientId: clientId(), includeClaimed: true, limit: 20 });
      expect(listed.messages).toHaveLength(10);
      const got = await h().queues.getClaim(project, name, c.id);
      expect(got).toMatchObject({ id: c.id, ttl: 100 });
      // U-28
      const first = c.messages[0]!;
      await expectFault(h().queues.deleteMessage(project, name, first.id), 'forbidden');
      await h().queues.deleteMessage(project, name, first.id, c.id);
      await expectFault(h().queues.getMessage(newProject(), name, first.id), 'notFound');
      await expectFault(h().queues.getMessage(project, name, first.id), 'notFound');
      // U-29
      h().clock.advance(5_000);
      await h().queues.renewClaim(project, name, c.id, { ttl: 60 });
      const renewed = await h().queues.getClaim(project, name, c.id);
      expect(renewed).toMatchObject({ ttl: 60, age: 0 });
      await h().queues.releaseClaim(newProject(), name, c.id);
      expect((await h().queues.getClaim(project, name, c.id)).messages).toHaveLength(9);
      await h().queues.releaseClaim(project, name, c.id);
      // U-30
      const second = c.messages[1]!;
      await expectFault(h().queues.deleteMessage(project, name, second.id, c.id), 'forbidden');
      expect((await h().queues.getMessage(project, name, second.id)).id).toBe(second.id);
      await expectFault(h().queues.getClaim(project, name, c.id), 'notFound');
      await expectFault(h().queues.renewClaim(project, name, c.id, { ttl: 60 }), 'notFound');
    });

    it('U-31 a missing queue: claim null, get/renew notFound, release no-op', async () => {
      const p = newProject();
      expect(await h().queues.claimMessages(p, 'nothere', CLAIM)).toBeNull();
      await expectFault(h().queues.getClaim(p, 'nothere', 'a'), 'notFound');
      await expectFault(h().queues.renewClaim(p, 'nothere', 'a', { ttl: 60 }), 'notFound');
      await h().queues.releaseClaim(p, 'nothere', 'a');
    });

    it('5.6 a message under another claim cannot be deleted with this one', async () => {
      const { project, name } = await queueWith(h, 2);
      const a = claimed(await h().queues.claimMessages(project, name, CLAIM, { limit: 1 }));
      const b = claimed(await h().queues.claimMessages(project, name, CLAIM, { limit: 1 }));
      await expectFault(h().queues.deleteMessage(project, name, a.messages[0]!.id, b.id), 'forbidden');
      await h().queues.deleteMessages(project, name, [a.messages[0]!.id]);
      await expectFault(h().queues.getClaim(project, name, a.id), 'notFound');
    });
  });
}
