import type { Counter } from 'prom-client';
import { Backoff, sleep } from '../lib/backoff.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../observability/logger.js';
import type { Queues } from '../queues/queues.js';
import type { Registry } from '../registry/registry.js';
import type { Store } from '../store/store.js';
import { deliver } from './deliver.js';
import { routeKeys, type CursorRecord } from './keys.js';
import type { EventRoute } from './types.js';
import { routeMatches } from './validate.js';

/** Events per delivery txn: etcd refuses more than 128 operations in one txn (messages + counter + cursor). */
const PAGE = 100;

export interface RunnerShared {
  store: Store;
  registry: Registry;
  queues: Queues;
  clock: Clock;
  log: Logger;
  waitSeconds: number;
  delivered: Counter<'route'>;
  failed: Counter<'route'>;
}

/**
 * Follows one route: read the cursor, long-poll the tenant's feed from it
 * (the registry's own `events?wait=`, which also runs its expiry, so
 * timeouts are seen), deliver the page's matching events and move the
 * cursor past the whole page in one txn. Failures are counted and retried
 * with backoff; the cursor only moves with a written page, so nothing is
 * skipped. Ends when stopped or when the route's cursor is gone (deleted).
 */
export class RouteRunner {
  private readonly ctl = new AbortController();
  private running: Promise<void> = Promise.resolve();
  private readonly label: string;

  constructor(
    private readonly shared: RunnerShared,
    private readonly tenant: string,
    /** Replaced when the route is set again (new filter, same cursor). */
    public route: EventRoute,
  ) {
    this.label = `${tenant}/${route.id}`;
  }

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.ctl.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    const signal = this.ctl.signal;
    const backoff = new Backoff({ initialMs: 200, maxMs: 10_000, jitter: 0.5 });
    while (!signal.aborted) {
      try {
        if (await this.round(signal)) return;
        backoff.reset();
      } catch (err) {
        if (signal.aborted) return;
        this.shared.failed.inc({ route: this.label });
        this.shared.log.warn({ err, route: this.label }, 'event route delivery failed; retrying');
        await sleep(backoff.next(), signal);
      }
    }
  }

  /** One feed page; true when the route is gone. */
  private async round(signal: AbortSignal): Promise<boolean> {
    const { store, registry } = this.shared;
    const cursor = await store.get(routeKeys.cursor(this.tenant, this.route.id));
    if (cursor === undefined) return true;
    const cur = JSON.parse(cursor.value) as CursorRecord;
    const page = await registry.listEvents(
      this.tenant,
      { marker: cur.m ?? undefined, limit: PAGE, wait: this.shared.waitSeconds },
      signal,
    );
    // The marker is inclusive: the cursor's own event comes back first.
    const events = cur.m !== null && page.values[0]?.id === cur.m ? page.values.slice(1) : page.values;
    const last = events[events.length - 1];
    if (last === undefined || signal.aborted) return false;
    const route = this.route;
    const matching = events.filter((ev) => routeMatches(route, ev));
    if (await deliver(this.shared, this.tenant, route, cursor, matching, last.id)) {
      if (matching.length > 0) this.shared.delivered.inc({ route: this.label }, matching.length);
    }
    return false;
  }
}
