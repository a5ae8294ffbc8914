import { appendEvents, ensureAccount, transact, unchanged, type Ctx } from './context.js';
import { faults } from './faults.js';
import { keys } from './keys.js';
import { checkSecretPrefixesValue, isSecretKey, parseSecretPrefixes, SECRET_PREFIXES_KEY } from './secret-prefixes.js';
import { scan, toPage } from './paging.js';
import type { ConfigListOptions, ConfigValue, Page } from './types.js';
import { checkConfigIdParam, parseConfigBody, parseIdMarker, parseLimit } from './validate.js';

/** Configuration operations of spec section 8. Values are stored as raw strings. */
export class Configuration {
  constructor(private readonly ctx: Ctx) {}

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
    await transact(this.ctx, async () => {
      // The value, the last event id and the secret prefixes in one read (one round trip on etcd).
      const [entry, last, marker] = await this.ctx.store.getMany([key, keys.lastEvent(tenant), keys.config(tenant, SECRET_PREFIXES_KEY)]);
      if (entry?.value === value) return { result: undefined };
      const secret = isSecretKey(parseSecretPrefixes(marker?.value), id);
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
              : { old_value: entry?.value ?? null, new_value: value, configuration_value_id: id },
          },
        ],
        { entry: last },
      );
      return {
        result: undefined,
        // The marker too: a value written while its key is being marked secret must not reach the feed.
        compares: [unchanged(key, entry), unchanged(keys.config(tenant, SECRET_PREFIXES_KEY), marker), ...ev.compares],
        ops: [{ type: 'put', key, value }, ...ev.ops],
      };
    });
  }

  /** Spec 8.6: remove one key (a namespace is not a key: 404). */
  async delete(tenant: string, id: string): Promise<void> {
    checkConfigIdParam(id, true);
    await ensureAccount(this.ctx, tenant);
    const key = keys.config(tenant, id);
    await transact(this.ctx, async () => {
      const [entry, marker] = await this.ctx.store.getMany([key, keys.config(tenant, SECRET_PREFIXES_KEY)]);
      if (!entry) throw faults.notFound('ConfigurationValue', id);
      const secret = isSecretKey(parseSecretPrefixes(marker?.value), id);
      const ev = await appendEvents(this.ctx, tenant, [
        {
          type: 'configuration_value.remove',
          payload: secret ? { old_value: null, configuration_value_id: id, secret: true } : { old_value: entry.value, configuration_value_id: id },
        },
      ]);
      const compares = [unchanged(key, entry), unchanged(keys.config(tenant, SECRET_PREFIXES_KEY), marker), ...ev.compares];
      return { result: undefined, compares, ops: [{ type: 'delete', key }, ...ev.ops] };
    });
  }
}
