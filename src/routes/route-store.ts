import type { Queues } from '../queues/queues.js';
import { faults, RegistryFault } from '../registry/faults.js';
import { keys as registryKeys } from '../registry/keys.js';
import type { RegistryEvent } from '../registry/types.js';
import type { Store } from '../store/store.js';
import { routeKeys, type CursorRecord } from './keys.js';
import type { EventRoute, EventRouteStatus } from './types.js';
import { checkRouteId, DEFAULT_MAX_ROUTE_TTL, parseRoute } from './validate.js';

const MAX_ATTEMPTS = 16;
/** Each route is a feed follower in every server: a tenant gets a few, not thousands. */
export const MAX_ROUTES_PER_TENANT = 100;

function notFound(id: string): RegistryFault {
  return new RegistryFault('notFoundError', 'object does not exist', `Object "EventRoute" with key "${id}" does not exist`, undefined);
}

/**
 * Event routes of a tenant, stored in the Store (durable, shared by every
 * server over one etcd). A route starts after the last event committed when
 * it is first set; setting it again changes its filter and keeps its cursor.
 */
export class RouteStore {
  constructor(
    private readonly store: Store,
    private readonly queues: Queues,
    /** The queues' max message TTL (`--queue-limits`), the cap of a route's ttl. */
    private readonly maxTtl = DEFAULT_MAX_ROUTE_TTL,
  ) {}

  /** True when created. The queue is created when missing (a route into nowhere would only fail later). */
  async set(tenant: string, id: string, body: unknown): Promise<boolean> {
    const route = parseRoute(id, body, this.maxTtl);
    await this.queues.createQueue(tenant, route.queue);
    const key = routeKeys.route(tenant, id);
    const value = JSON.stringify(route);
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      const existing = await this.store.get(key);
      if (existing !== undefined) {
        const r = await this.store.txn([{ key, op: 'modRevision', revision: existing.modRevision }], [{ type: 'put', key, value }]);
        if (r.succeeded) return false;
        continue;
      }
      if ((await this.store.count(routeKeys.tenantPrefix(tenant))) >= MAX_ROUTES_PER_TENANT) {
        throw faults.limitReached('event_routes', MAX_ROUTES_PER_TENANT);
      }
      const cursor: CursorRecord = { m: await this.lastEventId(tenant), d: 0 };
      const r = await this.store.txn(
        [{ key, op: 'absent' }],
        [
          { type: 'put', key, value },
          { type: 'put', key: routeKeys.cursor(tenant, id), value: JSON.stringify(cursor) },
        ],
      );
      if (r.succeeded) return true;
    }
    throw new RegistryFault('systemFailureError', 'Internal Error', 'Internal Error');
  }

  async get(tenant: string, id: string): Promise<EventRouteStatus> {
    checkRouteId(id);
    const [r, c] = await this.store.getMany([routeKeys.route(tenant, id), routeKeys.cursor(tenant, id)]);
    if (r === undefined) throw notFound(id);
    return status(JSON.parse(r.value) as EventRoute, c?.value);
  }

  async list(tenant: string): Promise<EventRouteStatus[]> {
    const { entries } = await this.store.range(routeKeys.tenantPrefix(tenant));
    const routes = entries.map((e) => JSON.parse(e.value) as EventRoute);
    const cursors = await this.store.getMany(routes.map((r) => routeKeys.cursor(tenant, r.id)));
    return routes.map((r, i) => status(r, cursors[i]?.value));
  }

  async delete(tenant: string, id: string): Promise<void> {
    checkRouteId(id);
    const key = routeKeys.route(tenant, id);
    const existing = await this.store.get(key);
    if (existing === undefined) throw notFound(id);
    const r = await this.store.txn(
      [{ key, op: 'modRevision', revision: existing.modRevision }],
      [
        { type: 'delete', key },
        { type: 'delete', key: routeKeys.cursor(tenant, id) },
      ],
    );
    if (!r.succeeded) throw notFound(id);
  }

  /** The feed id of the tenant's last committed event (a service.timeout's id is not its commit id), or null. */
  private async lastEventId(tenant: string): Promise<string | null> {
    const last = await this.store.get(registryKeys.lastEvent(tenant));
    if (last === undefined) return null;
    const ev = await this.store.get(registryKeys.event(tenant, last.value));
    return ev === undefined ? last.value : (JSON.parse(ev.value) as RegistryEvent).id;
  }
}

function status(route: EventRoute, cursor: string | undefined): EventRouteStatus {
  const c = cursor === undefined ? { m: null, d: 0 } : (JSON.parse(cursor) as CursorRecord);
  return { ...route, last_event: c.m, delivered: c.d };
}
