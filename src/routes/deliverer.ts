import { Counter, type Registry as PromRegistry } from 'prom-client';
import { Backoff, sleep } from '../lib/backoff.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import type { Queues } from '../queues/queues.js';
import type { Registry } from '../registry/registry.js';
import type { Store, WatchEvent } from '../store/store.js';
import { RouteRunner, type RunnerShared } from './runner.js';
import { parseRouteKey, ROUTES_PREFIX } from './keys.js';
import type { EventRoute } from './types.js';

export interface RouteDelivererOptions {
  logger?: Logger;
  clock?: Clock;
  /** Where the delivered/failed counters are registered (the server's /metrics). */
  metricsRegistry?: PromRegistry;
  /** Seconds each feed read waits for new events (default 30; the registry allows up to 60). */
  waitSeconds?: number;
}

/**
 * Runs every stored event route in this server: one runner per route,
 * started and stopped as routes are set and deleted (a watch on the routes'
 * prefix, so a route set through another server over the same etcd starts
 * here too). Every server runs every route; the cursor's compare in each
 * delivery txn makes exactly one of them write each event (deliver.ts).
 */
export class RouteDeliverer {
  private readonly runners = new Map<string, RouteRunner>();
  private readonly stop = new AbortController();
  private readonly shared: RunnerShared;

  private constructor(store: Store, registry: Registry, queues: Queues, opts: RouteDelivererOptions) {
    const registers = opts.metricsRegistry === undefined ? [] : [opts.metricsRegistry];
    this.shared = {
      store,
      registry,
      queues,
      clock: opts.clock ?? systemClock,
      log: (opts.logger ?? silentLogger()).child({ component: 'event-routes' }),
      waitSeconds: opts.waitSeconds ?? 30,
      delivered: new Counter({
        name: 'tether_event_route_delivered_total',
        help: 'Registry events this server wrote into queues, by route (tenant/id).',
        labelNames: ['route'],
        registers,
      }),
      failed: new Counter({
        name: 'tether_event_route_failures_total',
        help: 'Failed delivery attempts (retried), by route (tenant/id).',
        labelNames: ['route'],
        registers,
      }),
    };
  }

  /** Reads the stored routes, starts their runners and follows route changes. */
  static async start(store: Store, registry: Registry, queues: Queues, opts: RouteDelivererOptions = {}): Promise<RouteDeliverer> {
    const d = new RouteDeliverer(store, registry, queues, opts);
    await d.reload();
    return d;
  }

  /** Events this server delivered, per `tenant/id` (for tests and status). */
  async deliveredCount(tenant: string, id: string): Promise<number> {
    return (await this.shared.delivered.get()).values.find((v) => v.labels.route === `${tenant}/${id}`)?.value ?? 0;
  }

  async close(): Promise<void> {
    this.stop.abort();
    const all = [...this.runners.values()];
    this.runners.clear();
    await Promise.all(all.map((r) => r.stop()));
  }

  private async reload(): Promise<void> {
    const { entries, revision } = await this.shared.store.range(ROUTES_PREFIX);
    const seen = new Set<string>();
    for (const e of entries) {
      seen.add(e.key);
      this.upsert(e.key, e.value);
    }
    for (const key of [...this.runners.keys()]) if (!seen.has(key)) this.remove(key);
    await this.shared.store.watch(ROUTES_PREFIX, revision + 1, (evs) => this.onChanges(evs), this.stop.signal);
  }

  /**
   * The re-read after the store lost track, tried until it works: the old
   * watch is over, so a re-read given up would leave this server deaf to
   * routes set or changed later (until a restart).
   */
  private async reloadUntilDone(): Promise<void> {
    const backoff = new Backoff({ initialMs: 500, maxMs: 30_000, jitter: 0.5 });
    while (!this.stop.signal.aborted) {
      try {
        await this.reload();
        return;
      } catch (err) {
        if (this.stop.signal.aborted) return;
        this.shared.log.error({ err }, 'event routes reload failed; retrying');
        await sleep(backoff.next(), this.stop.signal);
      }
    }
  }

  private onChanges(events: WatchEvent[]): void {
    if (this.stop.signal.aborted) return;
    if (events.length === 0) {
      // The store lost track: re-read the routes (the old watch is over).
      void this.reloadUntilDone();
      return;
    }
    for (const ev of events) {
      if (ev.type === 'put' && ev.value !== null) this.upsert(ev.key, ev.value);
      else this.remove(ev.key);
    }
  }

  private upsert(key: string, value: string): void {
    const at = parseRouteKey(key);
    if (at === null) return;
    const route = JSON.parse(value) as EventRoute;
    const running = this.runners.get(key);
    if (running !== undefined) {
      running.route = route;
      return;
    }
    const runner = new RouteRunner(this.shared, at.tenant, route);
    this.runners.set(key, runner);
    runner.start();
  }

  private remove(key: string): void {
    const runner = this.runners.get(key);
    if (runner === undefined) return;
    this.runners.delete(key);
    void runner.stop();
    // A deleted route's series go with it (they would otherwise be scraped forever).
    const at = parseRouteKey(key);
    if (at !== null) {
      this.shared.delivered.remove({ route: `${at.tenant}/${at.id}` });
      this.shared.failed.remove({ route: `${at.tenant}/${at.id}` });
    }
  }
}
