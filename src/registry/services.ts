import type { Compare, Entry, Op } from '../store/store.js';
import { advanceBeat } from './beats.js';
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
  type ServiceRecord,
  type SessionRecord,
} from './context.js';
import type { Expirer } from './expiry.js';
import { faults } from './faults.js';
import { keys, legacyBeatKey } from './keys.js';
import { readBeatState } from './legacy-beats.js';
import { scan, toPage } from './paging.js';
import { timeUuid } from './time-uuid.js';
import type { CreateServiceReply, Page, Service, ServiceListOptions, TokenReply } from './types.js';
import {
  checkServiceIdParam,
  checkTagParam,
  parseIdMarker,
  parseLimit,
  parseNewService,
  parseServicePatch,
  parseTokenBody,
} from './validate.js';

/** Service operations of spec section 6, over the Store. */
export class Services {
  constructor(
    private readonly ctx: Ctx,
    private readonly expirer: Expirer,
  ) {}

  /** The public view of a stored service: last_seen from its heartbeat state (or its session's). */
  async view(tenant: string, rec: ServiceRecord): Promise<Service> {
    const { store } = this.ctx;
    let timeout = rec.heartbeat_timeout ?? 0;
    let beat: BeatRecord | undefined;
    if (rec.session_id !== null) {
      const ses = decode<SessionRecord>(await store.get(keys.session(tenant, rec.session_id)));
      timeout = ses?.heartbeat_timeout ?? timeout;
      beat = await readBeatState(this.ctx, keys.sessionBeat(tenant, rec.session_id), legacyBeatKey('ses', tenant, rec.session_id));
    } else {
      beat = await readBeatState(this.ctx, keys.beat(tenant, rec.id), legacyBeatKey('svc', tenant, rec.id));
    }
    const s: Service = { id: rec.id, tags: rec.tags, metadata: rec.metadata, heartbeat_timeout: timeout, last_seen: beat?.last_seen ?? null };
    if (rec.session_id !== null) s.session_id = rec.session_id;
    return s;
  }

  async list(tenant: string, opts: ServiceListOptions = {}): Promise<Page<Service>> {
    const limit = parseLimit(opts.limit);
    const marker = parseIdMarker(opts.marker);
    if (opts.tag !== undefined) checkTagParam(opts.tag);
    await ensureAccount(this.ctx, tenant);
    await this.expirer.run(tenant);
    const prefix = keys.servicePrefix(tenant);
    const tag = opts.tag;
    const keep = tag === undefined ? undefined : (e: Entry) => (JSON.parse(e.value) as ServiceRecord).tags.includes(tag);
    const found = await scan(this.ctx, prefix, prefix + (marker ?? ''), limit + 1, keep);
    const values = await Promise.all(found.slice(0, limit).map((e) => this.view(tenant, JSON.parse(e.value) as ServiceRecord)));
    const next = found[limit];
    return toPage(values, limit, opts.marker, next ? next.key.slice(prefix.length) : null);
  }

  async get(tenant: string, id: string): Promise<Service> {
    checkServiceIdParam(id);
    await ensureAccount(this.ctx, tenant);
    await this.expirer.run(tenant);
    const rec = decode<ServiceRecord>(await this.ctx.store.get(keys.service(tenant, id)));
    if (!rec) throw faults.notFound('Service', id);
    return this.view(tenant, rec);
  }

  /** Spec 6.4: validate, expire, exists?, limit, then store + join event + initial token. */
  async create(tenant: string, body: unknown): Promise<CreateServiceReply> {
    const input = parseNewService(body);
    const account = await ensureAccount(this.ctx, tenant);
    await this.expirer.run(tenant);
    const { ctx } = this;
    const svcKey = keys.service(tenant, input.id);
    const beatKey = keys.beat(tenant, input.id);
    const rec: ServiceRecord = { ...input, created_at: this.ctx.clock.now() };
    let lease = 0;
    try {
      return await transact(ctx, async () => {
        if (await ctx.store.get(svcKey)) throw faults.serviceExists(input.id);
        const count = await ctx.store.count(keys.servicePrefix(tenant));
        if (count >= account.limits.service) throw faults.limitReached('service', account.limits.service);
        let sessionTimeout: number | undefined;
        const compares: Compare[] = [];
        if (rec.session_id !== null) {
          const sesKey = keys.session(tenant, rec.session_id);
          const sesEntry = await ctx.store.get(sesKey);
          if (!sesEntry) throw faults.notFound('Session', rec.session_id);
          sessionTimeout = (JSON.parse(sesEntry.value) as SessionRecord).heartbeat_timeout;
          compares.push(unchanged(sesKey, sesEntry));
        }
        const ev = await appendEvents(ctx, tenant, [{ type: 'service.join', payload: servicePayload(rec, sessionTimeout) }]);
        const ops: Op[] = [{ type: 'put', key: svcKey, value: JSON.stringify(rec) }, ...ev.ops];
        let token: string | null = null;
        let deadline = 0;
        if (rec.heartbeat_timeout !== null && rec.session_id === null) {
          deadline = ctx.clock.now() + rec.heartbeat_timeout * 1000;
          token = timeUuid(deadline);
          if (lease === 0) lease = await ctx.store.grantLease(beatLeaseMs(ctx));
          const beat: BeatRecord = { token, deadline, last_seen: null, renewed_at: ctx.clock.now() };
          ops.push({ type: 'put', key: beatKey, value: JSON.stringify(beat), lease });
        }
        return {
          result: { token },
          compares: [{ key: svcKey, op: 'absent' as const }, ...compares, ...ev.compares],
          ops,
          after: () => {
            lease = 0;
            if (token !== null) ctx.deadlines.set(tenant, 'svc', input.id, deadline);
          },
        };
      });
    } finally {
      if (lease !== 0) await ctx.store.revokeLease(lease);
    }
  }

  /** Spec 6.5: partial update; no event; a new timeout applies from the next token. */
  async update(tenant: string, id: string, body: unknown): Promise<void> {
    checkServiceIdParam(id);
    const patch = parseServicePatch(id, body);
    await ensureAccount(this.ctx, tenant);
    await this.expirer.run(tenant);
    const key = keys.service(tenant, id);
    await transact(this.ctx, async () => {
      const entry = await this.ctx.store.get(key);
      if (!entry) throw faults.notFound('Service', id);
      const rec = { ...(JSON.parse(entry.value) as ServiceRecord), ...patch };
      return { result: undefined, compares: [unchanged(key, entry)], ops: [{ type: 'put', key, value: JSON.stringify(rec) }] };
    });
  }

  /** Spec 6.6: remove the service and every token of it (AMB-8); one service.remove event. */
  async delete(tenant: string, id: string): Promise<void> {
    checkServiceIdParam(id);
    await ensureAccount(this.ctx, tenant);
    await this.expirer.run(tenant);
    const { ctx } = this;
    const key = keys.service(tenant, id);
    const beatKey = keys.beat(tenant, id);
    let lease = 0;
    await transact(ctx, async () => {
      const entry = await ctx.store.get(key);
      if (!entry) throw faults.notFound('Service', id);
      const rec = JSON.parse(entry.value) as ServiceRecord;
      const beatEntry = await ctx.store.get(beatKey);
      lease = beatEntry?.lease ?? 0;
      let sessionTimeout: number | undefined;
      if (rec.session_id !== null) {
        sessionTimeout = decode<SessionRecord>(await ctx.store.get(keys.session(tenant, rec.session_id)))?.heartbeat_timeout;
      }
      const ev = await appendEvents(ctx, tenant, [{ type: 'service.remove', payload: servicePayload(rec, sessionTimeout) }]);
      return {
        result: undefined,
        compares: [unchanged(key, entry), unchanged(beatKey, beatEntry), ...ev.compares],
        ops: [{ type: 'delete', key }, { type: 'delete', key: beatKey }, ...ev.ops],
        after: () => ctx.deadlines.delete(tenant, 'svc', id),
      };
    });
    await releaseLease(ctx, lease);
  }

  /** Spec 6.7: consume `token`, return the next one. No expiry pass: late heartbeats are accepted until a pass reaps the service. */
  async heartbeat(tenant: string, id: string, body: unknown): Promise<TokenReply> {
    const token = parseTokenBody(body);
    // The account is known after its first request: no await for it on each heartbeat.
    if (!this.ctx.accounts.has(tenant)) await ensureAccount(this.ctx, tenant);
    return advanceBeat(
      this.ctx,
      {
        tenant,
        kind: 'svc',
        id,
        ownerKey: keys.service(tenant, id),
        beatKey: keys.beat(tenant, id),
        missing: () => faults.notFound('Service', id),
        ownerOf: (json) => {
          const rec = JSON.parse(json) as ServiceRecord;
          return { timeout: rec.session_id === null ? rec.heartbeat_timeout : null, createdAt: rec.created_at };
        },
      },
      token,
    );
  }
}
