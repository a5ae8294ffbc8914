import { randomInt } from 'node:crypto';
import {
  appendEvents,
  beatLeaseMs,
  decode,
  ensureAccount,
  releaseLease,
  servicePayload,
  transact,
  unchanged,
  type BeatRecord,
  type Ctx,
  type SessionRecord,
} from './context.js';
import { advanceBeat } from './beats.js';
import { boundServices, type Expirer } from './expiry.js';
import { faults } from './faults.js';
import { keys, legacyBeatKey } from './keys.js';
import { readBeatState } from './legacy-beats.js';
import { scan, toPage } from './paging.js';
import { timeUuid } from './time-uuid.js';
import type { CreateSessionReply, ListOptions, Page, Session, TokenReply } from './types.js';
import { parseIdMarker, parseLimit, parseNewSession, parseSessionPatch, parseTokenBody } from './validate.js';

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** Session ids look like the original's: `se` + 8 alphanumerics. */
function newSessionId(): string {
  let id = 'se';
  for (let i = 0; i < 8; i++) id += ALNUM[randomInt(ALNUM.length)];
  return id;
}

/**
 * The sessions extension (spec section 10): one heartbeat chain keeps every
 * service bound to the session alive, the way an etcd lease keeps many keys.
 */
export class Sessions {
  constructor(
    private readonly ctx: Ctx,
    private readonly expirer: Expirer,
  ) {}

  private async view(tenant: string, rec: SessionRecord): Promise<Session> {
    const beat = await readBeatState(this.ctx, keys.sessionBeat(tenant, rec.id), legacyBeatKey('ses', tenant, rec.id));
    return { id: rec.id, metadata: rec.metadata, heartbeat_timeout: rec.heartbeat_timeout, last_seen: beat?.last_seen ?? null };
  }

  async list(tenant: string, opts: ListOptions = {}): Promise<Page<Session>> {
    const limit = parseLimit(opts.limit);
    const marker = parseIdMarker(opts.marker);
    await ensureAccount(this.ctx, tenant);
    await this.expirer.run(tenant);
    const prefix = keys.sessionPrefix(tenant);
    const found = await scan(this.ctx, prefix, prefix + (marker ?? ''), limit + 1);
    const values = await Promise.all(found.slice(0, limit).map((e) => this.view(tenant, JSON.parse(e.value) as SessionRecord)));
    const next = found[limit];
    return toPage(values, limit, opts.marker, next ? next.key.slice(prefix.length) : null);
  }

  async get(tenant: string, id: string): Promise<Session> {
    await ensureAccount(this.ctx, tenant);
    await this.expirer.run(tenant);
    const rec = decode<SessionRecord>(await this.ctx.store.get(keys.session(tenant, id)));
    if (!rec) throw faults.notFound('Session', id);
    return this.view(tenant, rec);
  }

  async create(tenant: string, body: unknown): Promise<CreateSessionReply> {
    const input = parseNewSession(body);
    const account = await ensureAccount(this.ctx, tenant);
    await this.expirer.run(tenant);
    const { ctx } = this;
    const lease = await ctx.store.grantLease(beatLeaseMs(ctx));
    let committed = false;
    try {
      const reply = await transact(ctx, async () => {
        const count = await ctx.store.count(keys.sessionPrefix(tenant));
        if (count >= account.limits.session) throw faults.limitReached('session', account.limits.session);
        const id = newSessionId();
        const deadline = ctx.clock.now() + input.heartbeat_timeout * 1000;
        const token = timeUuid(deadline);
        const rec: SessionRecord = { id, metadata: input.metadata, heartbeat_timeout: input.heartbeat_timeout, created_at: ctx.clock.now() };
        const beat: BeatRecord = { token, deadline, last_seen: null, renewed_at: ctx.clock.now() };
        return {
          result: { id, token },
          compares: [{ key: keys.session(tenant, id), op: 'absent' as const }],
          ops: [
            { type: 'put' as const, key: keys.session(tenant, id), value: JSON.stringify(rec) },
            { type: 'put' as const, key: keys.sessionBeat(tenant, id), value: JSON.stringify(beat), lease },
          ],
          after: () => {
            committed = true;
            ctx.deadlines.set(tenant, 'ses', id, deadline);
          },
        };
      });
      return reply;
    } finally {
      if (!committed) await ctx.store.revokeLease(lease);
    }
  }

  async update(tenant: string, id: string, body: unknown): Promise<void> {
    const patch = parseSessionPatch(body);
    await ensureAccount(this.ctx, tenant);
    await this.expirer.run(tenant);
    const key = keys.session(tenant, id);
    await transact(this.ctx, async () => {
      const entry = await this.ctx.store.get(key);
      if (!entry) throw faults.notFound('Session', id);
      const rec = { ...(JSON.parse(entry.value) as SessionRecord), ...patch };
      return { result: undefined, compares: [unchanged(key, entry)], ops: [{ type: 'put', key, value: JSON.stringify(rec) }] };
    });
  }

  /** Extension: removes the session and its services, one service.remove event each. */
  async delete(tenant: string, id: string): Promise<void> {
    await ensureAccount(this.ctx, tenant);
    await this.expirer.run(tenant);
    const { ctx } = this;
    const key = keys.session(tenant, id);
    const beatKey = keys.sessionBeat(tenant, id);
    let lease = 0;
    await transact(ctx, async () => {
      const entry = await ctx.store.get(key);
      if (!entry) throw faults.notFound('Session', id);
      const rec = JSON.parse(entry.value) as SessionRecord;
      const beatEntry = await ctx.store.get(beatKey);
      lease = beatEntry?.lease ?? 0;
      const bound = await boundServices(ctx, tenant, id);
      const ev = await appendEvents(
        ctx,
        tenant,
        bound.map((b) => ({ type: 'service.remove' as const, payload: servicePayload(b.rec, rec.heartbeat_timeout) })),
      );
      return {
        result: undefined,
        compares: [unchanged(key, entry), unchanged(beatKey, beatEntry), ...bound.map((b) => b.compare), ...ev.compares],
        ops: [{ type: 'delete' as const, key }, { type: 'delete' as const, key: beatKey }, ...bound.map((b) => b.op), ...ev.ops],
        after: () => ctx.deadlines.delete(tenant, 'ses', id),
      };
    });
    await releaseLease(ctx, lease);
  }

  /** Token chain as for services (spec 6.7). */
  async heartbeat(tenant: string, id: string, body: unknown): Promise<TokenReply> {
    const token = parseTokenBody(body);
    // The account is known after its first request: no await for it on each heartbeat.
    if (!this.ctx.accounts.has(tenant)) await ensureAccount(this.ctx, tenant);
    return advanceBeat(
      this.ctx,
      {
        tenant,
        kind: 'ses',
        id,
        ownerKey: keys.session(tenant, id),
        beatKey: keys.sessionBeat(tenant, id),
        missing: () => faults.notFound('Session', id),
        ownerOf: (json) => {
          const rec = JSON.parse(json) as SessionRecord;
          return { timeout: rec.heartbeat_timeout, createdAt: rec.created_at };
        },
      },
      token,
    );
  }
}
