import { beatLeaseMs, createdBeforeStart, transact, unchanged, type BeatRecord, type Ctx } from './context.js';
import type { DeadlineKind } from './deadlines.js';
import { faults, type RegistryFault } from './faults.js';
import { timeUuid } from './time-uuid.js';
import type { TokenReply } from './types.js';

export interface BeatTarget {
  tenant: string;
  kind: DeadlineKind;
  id: string;
  /** Key of the durable record (service or session). */
  ownerKey: string;
  /** Key of its lease-bound heartbeat state. */
  beatKey: string;
  /** The fault when the owner does not exist. */
  missing: () => RegistryFault;
  /** The owner's heartbeat timeout in seconds (null when it has no token chain of its own) and creation time. */
  ownerOf: (ownerJson: string) => { timeout: number | null; createdAt: number | undefined };
}

/**
 * The token chain of spec 6.7, shared by services and sessions: `token` must
 * be the current one; it is consumed and the next one (deadline now +
 * timeout) returned. With no heartbeat state at all for something created
 * before this registry process started (the restart dropped lease-bound
 * state), any well-formed token resumes the chain: that is the restart grace. Never touches durable storage on the SQLite store.
 */
export async function advanceBeat(ctx: Ctx, target: BeatTarget, token: string): Promise<TokenReply> {
  const { store } = ctx;
  let granted = 0;
  try {
    const reply = await transact(ctx, async () => {
      // One read of both keys: on etcd each read is a round trip.
      const [owner, beatEntry] = await store.getMany([target.ownerKey, target.beatKey]);
      if (!owner) throw target.missing();
      const { timeout, createdAt } = target.ownerOf(owner.value);
      if (timeout === null) throw faults.notFound('HeartbeatMarker', token);
      const beat = beatEntry ? (JSON.parse(beatEntry.value) as BeatRecord) : undefined;
      if (beat && beat.token !== token) throw faults.notFound('HeartbeatMarker', token);
      // No state: only a restart of this registry excuses that (grace); otherwise the lease expired.
      if (!beatEntry && !createdBeforeStart(ctx, createdAt)) throw faults.notFound('HeartbeatMarker', token);
      const now = ctx.clock.now();
      const deadline = now + timeout * 1000;
      let lease = beatEntry?.lease ?? 0;
      if (lease === 0) lease = granted || (granted = await store.grantLease(beatLeaseMs(ctx)));
      // The lease is renewed only when a third of its TTL has passed since the last renewal,
      // not on every heartbeat: on etcd a keep-alive is one more round trip per beat.
      const renew = lease !== granted && now - (beat?.renewed_at ?? 0) >= beatLeaseMs(ctx) / 3;
      const next: BeatRecord = { token: timeUuid(deadline), deadline, last_seen: now, renewed_at: renew || lease === granted ? now : (beat?.renewed_at ?? now) };
      return {
        result: { token: next.token, lease, renew },
        // Only the heartbeat state is compared: a compare on the owner would cost a
        // durable read per beat, and the one race it closes (owner deleted between
        // the read above and this commit) leaves a lease-bound key that expires.
        compares: [unchanged(target.beatKey, beatEntry)],
        ops: [{ type: 'put' as const, key: target.beatKey, value: JSON.stringify(next), lease }],
        after: () => ctx.deadlines.set(target.tenant, target.kind, target.id, deadline),
      };
    });
    if (reply.lease === granted) granted = 0;
    else if (reply.renew) {
      // The new token is committed and the old one consumed: failing the call now would
      // strand the caller on a dead token. The lease outlives a missed renewal (beatLeaseMs).
      await store.keepAlive(reply.lease).catch((err: unknown) =>
        ctx.log.warn({ err, tenant: target.tenant, id: target.id }, 'heartbeat committed, but renewing its lease failed; the next one renews it'),
      );
    }
    return { token: reply.token };
  } finally {
    if (granted !== 0) await store.revokeLease(granted);
  }
}
