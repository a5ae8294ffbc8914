import type { WatchEvent } from '../../store/store.js';
import { entryBytes, GLOBAL_NS, ownerOf, tenantAnchor } from './tenant-keys.js';

/**
 * The ledger's figures: bytes per namespace, the size of each counted key (a
 * delete event carries no value), and the tenant anchors present. Every
 * change is a whole key's state, so applying a key's changes in revision
 * order over any older snapshot of it ends at its current state: what lets a
 * rescan replay the events that arrived while it read.
 */
export class UsageTally {
  readonly sizes = new Map<string, number>();
  readonly bytes = new Map<string, number>();
  /** The tenant-anchor keys present (tenantAnchor), and how many each namespace has: a tenant counts while it has one. */
  readonly anchors = new Set<string>();
  readonly tenants = new Map<string, number>();

  constructor(private readonly countBytes: boolean) {}

  apply(ev: WatchEvent): void {
    if (ev.type === 'put' && ev.value !== null) this.put(ev.key, ev.value);
    else this.drop(ev.key);
  }

  put(key: string, value: string): void {
    const owner = ownerOf(key);
    if (owner === null) return;
    if (owner.ns !== GLOBAL_NS && !this.anchors.has(key) && tenantAnchor(key)) {
      this.anchors.add(key);
      this.tenants.set(owner.ns, (this.tenants.get(owner.ns) ?? 0) + 1);
    }
    if (!owner.counted || !this.countBytes) return;
    const size = entryBytes(key, value);
    this.bytes.set(owner.ns, (this.bytes.get(owner.ns) ?? 0) + size - (this.sizes.get(key) ?? 0));
    this.sizes.set(key, size);
  }

  drop(key: string): void {
    if (this.anchors.delete(key)) {
      const ns = ownerOf(key)?.ns ?? '';
      const left = (this.tenants.get(ns) ?? 1) - 1;
      if (left > 0) this.tenants.set(ns, left);
      else this.tenants.delete(ns);
    }
    const size = this.sizes.get(key);
    if (size === undefined) return;
    this.sizes.delete(key);
    const owner = ownerOf(key);
    if (owner !== null) this.bytes.set(owner.ns, (this.bytes.get(owner.ns) ?? 0) - size);
  }
}
