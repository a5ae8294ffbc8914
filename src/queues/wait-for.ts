import type { Ctx } from './context.js';
import type { ClaimTerms } from './handoff.js';
import type { QueueKeys } from './keys.js';

/**
 * Runs `attempt`; while it finds nothing and `waitMs` has not passed, sleeps
 * until the queue changes (a post or a release, seen on the change feed), a
 * skipped claim expires, or the service closes, then tries again. A claimer
 * (`terms`) also stands in line for this process's next post, which may
 * hand it a claim directly (handoff.ts). Rejects with the signal's reason
 * when it aborts while waiting (nothing was taken).
 */
export async function waitFor<T>(
  ctx: Ctx,
  keys: QueueKeys,
  waitMs: number,
  signal: AbortSignal | undefined,
  attempt: () => Promise<T | null>,
  terms?: ClaimTerms,
): Promise<T | null> {
  if (waitMs <= 0) return attempt();
  const deadline = Date.now() + waitMs;
  for (;;) {
    signal?.throwIfAborted();
    const ticket = ctx.waiters.arm(keys.id);
    try {
      const found = await attempt();
      const left = deadline - Date.now();
      if (found !== null || left <= 0 || ctx.closing.aborted) return found;
      const sleep = Math.max(1, Math.min(left, ctx.hints.nextExpiry(keys.id) - ctx.clock.now()));
      if (terms === undefined) {
        await ticket.wait(sleep, signal);
        continue;
      }
      const slot = ctx.handoff.open(keys.id, terms);
      await Promise.race([ticket.wait(sleep, signal), slot.changed()]);
      // A claimer only passes terms, so what a slot is handed is what `attempt` returns.
      const handed = await slot.close();
      if (handed !== null) return handed as T;
    } finally {
      ticket.dispose();
    }
  }
}
