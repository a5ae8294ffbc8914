import type { SourceSpec } from '../manifest/model.js';
import { isFault } from '../registry/faults.js';
import type { Registry } from '../registry/registry.js';
import type { RegistryEvent, Service, ServicePayload } from '../registry/types.js';
import { Floor, type FloorStatus, type FloorTransition } from './floor.js';
import type { RenderData, ServiceView } from './render.js';
import { SecretKeys } from './secret-keys.js';

/** A stable id for a source, so files that share one share its data. */
export function sourceId(s: SourceSpec): string {
  if (s.kind === 'key') return `key:${s.key}`;
  if (s.kind === 'namespace') return `ns:${s.namespace}`;
  // Different floors are different sources: each keeps its own last good list.
  const floor = s.floor ? `:floor=${s.floor.min ?? ''}/${s.floor.percent ?? ''}/${s.floor.windowMs}` : '';
  return `svc:${s.tag ?? ''}:${s.idPrefix ?? ''}${floor}`;
}

type Held =
  | { spec: Extract<SourceSpec, { kind: 'key' }>; value: string | null }
  | { spec: Extract<SourceSpec, { kind: 'namespace' }>; values: Map<string, string> }
  | { spec: Extract<SourceSpec, { kind: 'services' }>; services: Map<string, ServiceView> };

const view = (s: Service | ServicePayload): ServiceView => ({ id: s.id, tags: [...s.tags], metadata: { ...s.metadata } });

/**
 * The registry data every file needs, one entry per distinct source: filled
 * by a full sync, then kept current from the events feed (a configuration
 * event carries its new value, so no extra round trip is needed). Reports
 * which sources an event changed, so only their files render.
 */
export class SourceData {
  private readonly held = new Map<string, Held>();
  private readonly secrets = new SecretKeys();
  /** Floors of services sources, by source id; apart from `held`, which a full sync replaces. */
  private readonly floors = new Map<string, Floor>();

  /** `onFloor` hears when a source's list goes below its floor (held) and back (released). */
  constructor(
    specs: Iterable<SourceSpec>,
    private readonly onFloor: (id: string, transition: Exclude<FloorTransition, null>, status: FloorStatus) => void = () => {},
  ) {
    for (const spec of specs) {
      const id = sourceId(spec);
      if (this.held.has(id)) continue;
      if (spec.kind === 'key') this.held.set(id, { spec, value: null });
      else if (spec.kind === 'namespace') this.held.set(id, { spec, values: new Map() });
      else {
        this.held.set(id, { spec, services: new Map() });
        if (spec.floor) this.floors.set(id, new Floor(spec.floor));
      }
    }
  }

  /** True when some services source has a floor. */
  get hasFloors(): boolean {
    return this.floors.size > 0;
  }

  /** Seeds the floors with the last good sizes a previous run saved (see FloorStore). */
  seedFloors(sizes: Record<string, number>): void {
    for (const [id, floor] of this.floors) {
      const n = sizes[id];
      if (n !== undefined) floor.seed(n);
    }
  }

  /** The floors' last good sizes, by source id, for FloorStore. */
  floorSizes(): Record<string, number> {
    const sizes: Record<string, number> = {};
    for (const [id, floor] of this.floors) if (floor.lastGoodCount !== null) sizes[id] = floor.lastGoodCount;
    return sizes;
  }

  /** The floor of a services source, for status (`name`: the source's name in its file), or null without one. */
  floorStatus(spec: SourceSpec, name: string): FloorStatus | null {
    return this.floors.get(sourceId(spec))?.status(name) ?? null;
  }

  /** Reads every source from the registry (all pages). Rejects on the first failure; nothing is replaced then. */
  async sync(registry: Registry, tenant: string, signal?: AbortSignal): Promise<void> {
    await this.secrets.load(registry, tenant, signal);
    const fresh = new Map<string, Held>();
    for (const [id, h] of this.held) fresh.set(id, await fetch(h.spec, registry, tenant, signal));
    for (const [id, h] of fresh) this.held.set(id, h);
  }

  /** Reads the secret values whose events came without them (see SecretKeys); returns the ids of the sources they changed. */
  async fetchSecrets(registry: Registry, tenant: string, signal?: AbortSignal): Promise<Set<string>> {
    const wanted = (id: string): boolean => {
      for (const h of this.held.values()) {
        if ('value' in h ? h.spec.key === id : 'values' in h && relative(h.spec.namespace, id) !== null) return true;
      }
      return false;
    };
    return this.apply(await this.secrets.resolve(registry, tenant, wanted, signal));
  }

  /** True when a key or namespace source holds a secret (its file is written 0600 unless the manifest gives a mode). */
  secret(spec: SourceSpec): boolean {
    if (spec.kind === 'key') return this.secrets.isSecret(spec.key);
    if (spec.kind !== 'namespace') return false;
    if (this.secrets.isSecret(`${spec.namespace}/`)) return true;
    const h = this.held.get(sourceId(spec));
    return h !== undefined && 'values' in h && [...h.values.keys()].some((rel) => this.secrets.isSecret(`${spec.namespace}/${rel}`));
  }

  /** Applies events in feed order; returns the ids of the sources whose data changed. */
  apply(events: readonly RegistryEvent[]): Set<string> {
    const changed = new Set<string>();
    for (const ev of this.secrets.filter(events)) {
      for (const [id, h] of this.held) if (applyOne(h, ev)) changed.add(id);
    }
    return changed;
  }

  /**
   * The data of a source for rendering, or null when it is missing (no key,
   * an empty namespace, or a services list below its floor before any good
   * list). A services source with a floor gives its last good list while
   * the current one is below the floor (see Floor).
   */
  data(spec: SourceSpec): RenderData | null {
    const id = sourceId(spec);
    const h = this.held.get(id);
    if (!h) return null;
    if ('value' in h) return h.value === null ? null : { kind: 'key', value: h.value };
    if ('values' in h) return h.values.size === 0 ? null : { kind: 'namespace', namespace: h.spec.namespace, values: Object.fromEntries(h.values) };
    const services = [...h.services.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const floor = this.floors.get(id);
    if (!floor) return { kind: 'services', services };
    const r = floor.pass(services);
    if (r.transition !== null) this.onFloor(id, r.transition, floor.status(id));
    return r.list === null ? null : { kind: 'services', services: r.list };
  }
}

function matchesService(spec: Extract<SourceSpec, { kind: 'services' }>, s: { id: string; tags: string[] }): boolean {
  return (spec.tag === null || s.tags.includes(spec.tag)) && (spec.idPrefix === null || s.id.startsWith(spec.idPrefix));
}

/** The key relative to the namespace, or null when outside it (the namespace's own key is not a file entry). */
function relative(ns: string, id: string): string | null {
  return id.startsWith(`${ns}/`) ? id.slice(ns.length + 1) : null;
}

function applyOne(h: Held, ev: RegistryEvent): boolean {
  if (ev.type === 'configuration_value.update' || ev.type === 'configuration_value.remove') {
    const id = ev.payload.configuration_value_id;
    const next = ev.type === 'configuration_value.update' ? ev.payload.new_value : null;
    if ('value' in h) {
      if (h.spec.key !== id || h.value === next) return false;
      h.value = next;
      return true;
    }
    if ('values' in h) {
      const rel = relative(h.spec.namespace, id);
      if (rel === null || h.values.get(rel) === (next ?? undefined)) return false;
      if (next === null) h.values.delete(rel);
      else h.values.set(rel, next);
      return true;
    }
    return false;
  }
  if (!('services' in h)) return false;
  const p = ev.payload;
  if (ev.type === 'service.join') {
    if (!matchesService(h.spec, p)) return false;
    h.services.set(p.id, view(p));
    return true;
  }
  return h.services.delete(p.id);
}

async function fetch(spec: SourceSpec, registry: Registry, tenant: string, signal?: AbortSignal): Promise<Held> {
  if (spec.kind === 'key') {
    try {
      return { spec, value: (await registry.getConfig(tenant, spec.key, signal)).value };
    } catch (err) {
      if (isFault(err, 'notFoundError')) return { spec, value: null };
      throw err;
    }
  }
  if (spec.kind === 'namespace') {
    const values = new Map<string, string>();
    let marker: string | undefined;
    do {
      const page = await registry.listConfig(tenant, { namespace: spec.namespace, limit: 1000, marker }, signal);
      for (const v of page.values) {
        const rel = relative(spec.namespace, v.id);
        if (rel !== null) values.set(rel, v.value);
      }
      marker = page.metadata.next_marker ?? undefined;
    } while (marker !== undefined);
    return { spec, values };
  }
  const services = new Map<string, ServiceView>();
  let marker: string | undefined;
  do {
    // Tags outside the queryable pattern (AMB-6) are filtered here instead of by the registry.
    const byTag = spec.tag !== null && /^[a-z0-9_\-.]{1,55}$/i.test(spec.tag) ? { tag: spec.tag } : {};
    const page = await registry.listServices(tenant, { limit: 1000, marker, ...byTag }, signal);
    for (const s of page.values) if (matchesService(spec, s)) services.set(s.id, view(s));
    marker = page.metadata.next_marker ?? undefined;
  } while (marker !== undefined);
  return { spec, services };
}
