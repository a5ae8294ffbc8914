import type { Registry } from '../../src/registry/registry.js';
import type { RegistryEvent } from '../../src/registry/types.js';

/**
 * The official EventsFeedPoller's marker pattern (spec 9.3), one poll per
 * call: GET /events?marker=<last id>, drop values[0] when it equals the
 * marker, emit the rest, move the marker to the last id received. Tests drive
 * `poll()` themselves (with a fake clock between polls) instead of a timer.
 */
export class MarkerPoller {
  marker: string | null = null;
  readonly emitted: RegistryEvent[] = [];

  constructor(
    private readonly registry: Registry,
    private readonly tenant: string,
  ) {}

  /** Polls once; returns the events emitted by this poll. Rejects with the registry's fault. */
  async poll(): Promise<RegistryEvent[]> {
    const page = await this.registry.listEvents(this.tenant, this.marker === null ? {} : { marker: this.marker });
    const last = page.values[page.values.length - 1];
    const fresh = this.marker !== null && page.values[0]?.id === this.marker ? page.values.slice(1) : page.values;
    this.emitted.push(...fresh);
    if (last) this.marker = last.id;
    return fresh;
  }

  /** How many emitted events have this type. */
  count(type: RegistryEvent['type']): number {
    return this.emitted.filter((e) => e.type === type).length;
  }
}
