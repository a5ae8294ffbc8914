import type { WatchEvent } from '../store/store.js';
import type { AccountRecord, BeatRecord, Ctx } from './context.js';
import { keys, parseBeatKey } from './keys.js';

/**
 * On a store other registry servers write to (etcd), keeps this server's
 * in-memory view in step with theirs: a heartbeat or a creation made through
 * another server moves the deadline this server's reaper and reads use, and
 * tenants created elsewhere become known (for expiry and event trimming).
 * An empty batch (the store lost its change stream) calls `rescan`.
 * Resolves once the watch is in place; it ends with `signal`.
 */
export async function followOtherServers(ctx: Ctx, fromRevision: number, rescan: () => void, signal: AbortSignal): Promise<void> {
  const apply = (events: WatchEvent[]): void => {
    if (events.length === 0) {
      rescan();
      return;
    }
    for (const ev of events) {
      if (ev.type !== 'put' || ev.value === null) continue;
      const beat = parseBeatKey(ev.key);
      if (beat !== null) {
        const { deadline } = JSON.parse(ev.value) as BeatRecord;
        ctx.deadlines.set(beat.tenant, beat.kind, beat.id, deadline);
      } else if (ev.key.startsWith(keys.accountPrefix)) {
        const tenant = ev.key.slice(keys.accountPrefix.length);
        if (ctx.accounts.has(tenant)) continue;
        const account = JSON.parse(ev.value) as AccountRecord;
        ctx.accounts.set(tenant, { ...account, limits: { ...account.limits, ...ctx.opts.limitOverrides } });
      }
    }
  };
  await ctx.store.watch('', fromRevision, apply, signal);
}
