import { namespaceOf } from '../../queues/keys.js';

/**
 * Which tenant a store key belongs to, and whether its bytes count against
 * the tenant's storage quota. Registry tenants and queues projects are one
 * identity (a tenant id is the project id), so both are named by the queues'
 * key namespace (`p` + escaped id); `g`, the queues' global namespace, is no
 * tenant: it is never refused as a new tenant but its bytes are counted.
 *
 * Counted: configuration values (`t/{t}/c/`), queue messages
 * (`q/d/{ns}/{q}/m/`) and queue metadata (`q/n/{ns}/{q}`, up to 64 KiB each).
 * Services, sessions, events, claims and counters are bounded by their own
 * limits (resource limits, retention, claim counts), so they are not counted.
 */
export interface KeyOwner {
  ns: string;
  counted: boolean;
}

export const GLOBAL_NS = 'g';

// Every registry write (heartbeats included) passes here; a tenant's namespace is computed once.
const nsOfTenant = new Map<string, string>();
const MAX_CACHED = 100_000;

function nsOf(tenant: string): string {
  let ns = nsOfTenant.get(tenant);
  if (ns === undefined) {
    ns = namespaceOf(tenant);
    if (nsOfTenant.size >= MAX_CACHED) nsOfTenant.clear();
    nsOfTenant.set(tenant, ns);
  }
  return ns;
}

export function ownerOf(key: string): KeyOwner | null {
  const kind = key.slice(0, 2);
  if (kind === 'a/') return { ns: nsOf(key.slice(2)), counted: false };
  if (kind === 't/') {
    const slash = key.indexOf('/', 2);
    if (slash < 0) return null;
    return { ns: nsOf(key.slice(2, slash)), counted: key.startsWith('c/', slash + 1) };
  }
  if (kind === 'r/') {
    // r/d/{tenant}/{id}, r/c/{tenant}/{id}: event routes
    const slash = key.indexOf('/', 4);
    return slash < 0 ? null : { ns: nsOf(key.slice(4, slash)), counted: false };
  }
  if (key.startsWith('q/n/')) {
    const slash = key.indexOf('/', 4);
    return slash < 0 ? null : { ns: key.slice(4, slash), counted: true };
  }
  if (key.startsWith('q/d/')) {
    const slash = key.indexOf('/', 4);
    if (slash < 0) return null;
    const queueEnd = key.indexOf('/', slash + 1);
    return { ns: key.slice(4, slash), counted: queueEnd > 0 && key.startsWith('m/', queueEnd + 1) };
  }
  return null;
}

/**
 * True for the keys whose presence makes a tenant count toward --max-tenants:
 * the registry's last-event key `t/{t}/l` (every registry write that appends an
 * event), a session record `t/{t}/n/{id}` (creating a session appends none),
 * an event route `r/d/{t}/{id}`, a queue record `q/n/{ns}/{name}`.
 * Not the account record `a/{t}`: a read creates it (spec 1.5), so anonymous
 * GETs on made-up tenants would otherwise fill the cap. A tenant with only
 * sessions or only queues stops counting when its last one is gone.
 */
export function tenantAnchor(key: string): boolean {
  if (key.startsWith('q/n/') || key.startsWith('r/d/')) return true;
  if (!key.startsWith('t/')) return false;
  const slash = key.indexOf('/', 2);
  if (slash < 0) return false;
  if (key.length === slash + 2) return key.charCodeAt(slash + 1) === 108; // 'l'
  return key.startsWith('n/', slash + 1);
}

/** The tenant id of a namespace, for metrics and messages ('' for the global namespace). */
export function tenantOfNs(ns: string): string {
  if (ns === GLOBAL_NS) return '';
  return ns.slice(1).replace(/%([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Bytes a key and its value take in the quota's count. */
export function entryBytes(key: string, value: string): number {
  return key.length + Buffer.byteLength(value, 'utf8');
}
