import type { WatchEvent } from '../store/store.js';
import type { AccountRecord, Ctx, ServiceRecord, SessionRecord } from './context.js';
import { keys, parseRecordKey } from './keys.js';

/**
 * On a store other registry servers write to (etcd), keeps this server's
 * in-memory view in step with theirs: a service or session created through
 * another server gets a deadline here (a hint: heartbeat state is not watched,
 * keys.ts, so the expiry pass reads it before it acts), one removed there
 * leaves the index, and tenants created elsewhere become known (for expiry
 * and event trimming).
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
      const record = parseRecordKey(ev.key);
      if (record !== null) {
        if (ev.type === 'delete' || ev.value === null) ctx.deadlines.delete(record.tenant, record.kind, record.id);
        else hintDeadline(ctx, record, ev.value);
        continue;
      }
      if (ev.type !== 'put' || ev.value === null) continue;
      if (ev.key.startsWith(keys.accountPrefix)) {
        const tenant = ev.key.slice(keys.accountPrefix.length);
        if (ctx.accounts.has(tenant)) continue;
        const account = JSON.parse(ev.value) as AccountRecord;
        ctx.accounts.set(tenant, { ...account, limits: { ...account.limits, ...ctx.opts.limitOverrides } });
      }
    }
  };
  await ctx.store.watch('', fromRevision, apply, signal);
}

/** A record's first deadline (creation + timeout), unless this server knows a deadline for it already. */
function hintDeadline(ctx: Ctx, record: { tenant: string; kind: 'svc' | 'ses'; id: string }, json: string): void {
  const rec = JSON.parse(json) as ServiceRecord | SessionRecord;
  // Services bound to a session live and die with it: no deadline of their own.
  if (rec.heartbeat_timeout === null || ('session_id' in rec && rec.session_id !== null)) return;
  const from = rec.created_at ?? ctx.clock.now();
  ctx.deadlines.hint(record.tenant, record.kind, record.id, from + rec.heartbeat_timeout * 1000);
}
