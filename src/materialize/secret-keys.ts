import { isFault } from '../registry/faults.js';
import type { Registry } from '../registry/registry.js';
import { isSecretKey, parseSecretPrefixes, SECRET_PREFIXES_KEY } from '../registry/secret-prefixes.js';
import type { RegistryEvent } from '../registry/types.js';

/**
 * The agent's side of secret prefixes (registry/secret-prefixes.ts): which
 * keys are secret, and the secret keys whose events came without a value.
 * Those values are read from the registry directly (GET the key) before the
 * files render, so a secret never travels through the events feed.
 */
export class SecretKeys {
  private prefixes: string[] = [];
  private readonly pending = new Set<string>();

  /** Reads the tenant's prefixes (part of a full sync, which reads every value itself). */
  async load(registry: Registry, tenant: string, signal?: AbortSignal): Promise<void> {
    try {
      this.prefixes = parseSecretPrefixes((await registry.getConfig(tenant, SECRET_PREFIXES_KEY, signal)).value);
    } catch (err) {
      if (!isFault(err, 'notFoundError')) throw err;
      this.prefixes = [];
    }
    this.pending.clear();
  }

  isSecret(id: string): boolean {
    return isSecretKey(this.prefixes, id);
  }

  /** Follows the prefixes in the feed and takes the value-less secret events out, noting their keys. */
  filter(events: readonly RegistryEvent[]): RegistryEvent[] {
    const out: RegistryEvent[] = [];
    for (const ev of events) {
      if (ev.type !== 'configuration_value.update' && ev.type !== 'configuration_value.remove') {
        out.push(ev);
        continue;
      }
      const id = ev.payload.configuration_value_id;
      if (id === SECRET_PREFIXES_KEY) this.prefixes = ev.type === 'configuration_value.update' ? parseSecretPrefixes(ev.payload.new_value) : [];
      if (ev.payload.secret === true) this.pending.add(id);
      else out.push(ev);
    }
    return out;
  }

  /** Reads the noted keys that `wanted` accepts, as events carrying their current values (a missing key: a remove). */
  async resolve(registry: Registry, tenant: string, wanted: (id: string) => boolean, signal?: AbortSignal): Promise<RegistryEvent[]> {
    const events: RegistryEvent[] = [];
    for (const id of [...this.pending]) {
      if (!wanted(id)) {
        this.pending.delete(id);
        continue;
      }
      let value: string | null;
      try {
        value = (await registry.getConfig(tenant, id, signal)).value;
      } catch (err) {
        if (!isFault(err, 'notFoundError')) throw err;
        value = null;
      }
      this.pending.delete(id);
      const at = Date.now();
      events.push(
        value === null
          ? { id: '', timestamp: at, type: 'configuration_value.remove', payload: { old_value: null, configuration_value_id: id } }
          : { id: '', timestamp: at, type: 'configuration_value.update', payload: { old_value: null, new_value: value, configuration_value_id: id } },
      );
    }
    return events;
  }
}
