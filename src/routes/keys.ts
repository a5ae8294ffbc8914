/**
 * Where event routes live in a Store (beside the registry's `a/`, `t/` and
 * the queues' `q/`):
 *
 *   r/d/{tenant}/{id}   route definition (JSON)                     durable
 *   r/c/{tenant}/{id}   cursor: last event handled, delivered count  durable
 *
 * The cursor is a key of its own so that changing a route's filter does not
 * race delivery, and a delivery's txn compares only the cursor.
 */
export const ROUTES_PREFIX = 'r/d/';

export const routeKeys = {
  tenantPrefix: (tenant: string) => `r/d/${tenant}/`,
  route: (tenant: string, id: string) => `r/d/${tenant}/${id}`,
  cursor: (tenant: string, id: string) => `r/c/${tenant}/${id}`,
};

/** Tenant and id of a route key, or null. Tenant ids never contain '/'. */
export function parseRouteKey(key: string): { tenant: string; id: string } | null {
  if (!key.startsWith(ROUTES_PREFIX)) return null;
  const rest = key.slice(ROUTES_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return null;
  return { tenant: rest.slice(0, slash), id: rest.slice(slash + 1) };
}

/** The stored cursor. `m` is a feed marker: an event id, or the commit id of the last event when the route was set. */
export interface CursorRecord {
  m: string | null;
  /** Events delivered into the queue so far. */
  d: number;
}
