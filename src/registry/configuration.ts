import { configMemoOf } from './config-memo.js';
import { appendEvents, ensureAccount, transact, unchanged, type Ctx } from './context.js';
import { faults } from './faults.js';
import { keys } from './keys.js';
import { checkSecretPrefixesValue, isSecretKey, mayHaveBeenSecret, parseSecretPrefixes, SECRET_PREFIXES_KEY, unmarkedBy, withUnmarked } from './secret-prefixes.js';
import type { Compare, Entry, Op } from '../store/store.js';
import { scan, toPage } from './paging.js';
import type { ConfigListOptions, ConfigValue, Page } from './types.js';
import { checkConfigIdParam, parseConfigBody, parseIdMarker, parseLimit } from './validate.js';

/** Configuration operations of spec section 8. Values are stored as raw strings. */
export class Configuration {
  /** `stop` ends what outlives a call (the configuration memo's store watch) when the registry closes. */
  constructor(
    private readonly ctx: Ctx,
    private readonly stop: AbortSignal,
  ) {}

  /**
   * Lists all values, or one namespace: the key equal to the namespace and
   * every key under `namespace + '/'` (AMB-12), never anything outside it,
   * whatever the marker (inclusive) says.
   */
  async list(tenant: string, opts: ConfigListOptions = {}): Promise<Page<ConfigValue>> {
    const limit = parseLimit(opts.limit);
    const marker = parseIdMarker(opts.marker) ?? '';
    await ensureAccount(this.ctx, tenant);
    const prefix = keys.configPrefix(tenant);
    const found: ConfigValue[] = [];
    if (opts.namespace === undefined) {
      for (const e of await scan(this.ctx, prefix, prefix + marker, limit + 1)) found.push({ id: e.key.slice(prefix.length), value: e.value });
    } else {
      const ns = opts.namespace;
      const under = ns.endsWith('/') ? ns : `${ns}/`;
      if (ns !== under && ns >= marker) {
        const own = await this.ctx.store.get(prefix + ns);
        if (own) found.push({ id: ns, value: own.value });
      }
      const from = prefix + (marker > under ? marker : under);
      for (const e of await scan(this.ctx, prefix + under, from, limit + 1 - found.length)) {
        found.push({ id: e.key.slice(prefix.length), value: e.value });
      }
    }
    return toPage(found.slice(0, limit), limit, opts.marker, found[limit]?.id ?? null);
  }

  async get(tenant: string, id: string): Promise<ConfigValue> {
    checkConfigIdParam(id, false);
    await ensureAccount(this.ctx, tenant);
    const entry = await this.ctx.store.get(keys.config(tenant, id));
    if (!entry) throw faults.notFound('ConfigurationValue', id);
    return { id, value: entry.value };
  }

  /** Spec 8.5: create or overwrite; an unchanged value writes nothing and emits no event. */
  async set(tenant: string, id: string, body: unknown): Promise<void> {
    checkConfigIdParam(id, true);
    const value = parseConfigBody(body);
    if (id === SECRET_PREFIXES_KEY) checkSecretPrefixesValue(value);
    const account = await ensureAccount(this.ctx, tenant);
    const key = keys.config(tenant, id);
    const reads = [key, keys.lastEvent(tenant), keys.config(tenant, SECRET_PREFIXES_KEY), keys.unmarkedSecrets(tenant)];
    const memo = configMemoOf(this.ctx, this.stop);
    let guess = memo?.recall(reads);
    await transact(this.ctx, async () => {
      // The first try on etcd plans from what this server knows (config-memo.ts): every key read is compared in the
      // commit, so it is a compare-and-put without a read. Not for "unchanged" or a new key (its count is read): those read.
      const known = guess !== undefined && guess[0] !== undefined && guess[0].value !== value ? guess : undefined;
      if (guess !== undefined) memo?.forget(reads);
      guess = undefined;
      // Otherwise the value, the last event id, the secret prefixes and the unmarked ones in one read (one round trip on etcd).
      const got = known ?? (await this.ctx.store.getMany(reads));
      if (known === undefined) memo?.read(reads, got);
      const [entry, last, marker, unmarked] = got;
      if (entry?.value === value) return { result: undefined };
      const secret = isSecretKey(parseSecretPrefixes(marker?.value), id);
      const oldValue = mayHaveBeenSecret(unmarked, id, entry) ? null : (entry?.value ?? null);
      if (!entry) {
        const count = await this.ctx.store.count(keys.configPrefix(tenant));
        const max = account.limits.configuration_value;
        if (count >= max) throw faults.limitReached('configuration_value', max);
      }
      const ev = await appendEvents(
        this.ctx,
        tenant,
        [
          {
            type: 'configuration_value.update',
            payload: secret
              ? { old_value: null, new_value: null, configuration_value_id: id, secret: true }
              : { old_value: oldValue, new_value: value, configuration_value_id: id },
          },
        ],
        { entry: last },
      );
      const unmark = id === SECRET_PREFIXES_KEY ? unmarkOps(tenant, entry?.value, value, unmarked) : NO_UNMARK;
      const ops: Op[] = [{ type: 'put', key, value }, ...unmark.ops, ...ev.ops];
      return {
        result: undefined,
        // The marker too: a value written while its key is being marked secret must not reach the feed. The unmarked
        // prefixes decide whether the old value is shown (mayHaveBeenSecret), so they are compared as well.
        compares: [
          unchanged(key, entry),
          unchanged(keys.config(tenant, SECRET_PREFIXES_KEY), marker),
          ...(unmark === NO_UNMARK ? [unchanged(keys.unmarkedSecrets(tenant), unmarked)] : unmark.compares),
          ...ev.compares,
        ],
        ops,
        after: (revision: number) => memo?.committed(reads, got, ops, revision),
      };
    });
  }

  /** Spec 8.6: remove one key (a namespace is not a key: 404). */
  async delete(tenant: string, id: string): Promise<void> {
    checkConfigIdParam(id, true);
    await ensureAccount(this.ctx, tenant);
    const key = keys.config(tenant, id);
    await transact(this.ctx, async () => {
      const [entry, marker, unmarked] = await this.ctx.store.getMany([key, keys.config(tenant, SECRET_PREFIXES_KEY), keys.unmarkedSecrets(tenant)]);
      if (!entry) throw faults.notFound('ConfigurationValue', id);
      const secret = isSecretKey(parseSecretPrefixes(marker?.value), id);
      const oldValue = mayHaveBeenSecret(unmarked, id, entry) ? null : entry.value;
      const ev = await appendEvents(this.ctx, tenant, [
        {
          type: 'configuration_value.remove',
          payload: secret ? { old_value: null, configuration_value_id: id, secret: true } : { old_value: oldValue, configuration_value_id: id },
        },
      ]);
      const unmark = id === SECRET_PREFIXES_KEY ? unmarkOps(tenant, entry.value, null, unmarked) : NO_UNMARK;
      const compares = [unchanged(key, entry), unchanged(keys.config(tenant, SECRET_PREFIXES_KEY), marker), ...unmark.compares, ...ev.compares];
      return { result: undefined, compares, ops: [{ type: 'delete', key }, ...unmark.ops, ...ev.ops] };
    });
  }
}

const NO_UNMARK: { compares: Compare[]; ops: Op[] } = { compares: [], ops: [] };

/** The write of the unmarked prefixes when a marker change removes some (see mayHaveBeenSecret). */
function unmarkOps(tenant: string, oldMarker: string | undefined, newMarker: string | null, unmarked: Entry | undefined): { compares: Compare[]; ops: Op[] } {
  const next = withUnmarked(unmarked?.value, unmarkedBy(oldMarker, newMarker));
  if (next === null) return NO_UNMARK;
  const key = keys.unmarkedSecrets(tenant);
  return { compares: [unchanged(key, unmarked)], ops: [{ type: 'put', key, value: next }] };
}
