import { expect } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { QueueService } from '../../src/queues/service.js';
import type { Queues } from '../../src/queues/queues.js';
import type { Message } from '../../src/queues/types.js';
import type { Registry } from '../../src/registry/registry.js';
import { RegistryService } from '../../src/registry/service.js';
import type { RegistryEvent } from '../../src/registry/types.js';
import { RouteDeliverer } from '../../src/routes/deliverer.js';
import { RouteStore } from '../../src/routes/route-store.js';
import type { Store } from '../../src/store/store.js';

/** One "server": registry, queues, routes and a deliverer over a store (which it does not own). */
export interface Node {
  registry: RegistryService;
  queues: QueueService;
  routes: RouteStore;
  deliverer: RouteDeliverer;
  /** Stops the deliverer and services; the store stays open. */
  close(): Promise<void>;
}

export async function openNode(store: Store, waitSeconds = 5): Promise<Node> {
  const registry = await RegistryService.open(store, { logger: silentLogger() });
  const queues = await QueueService.open(store, { logger: silentLogger(), sweepIntervalMs: 0 });
  const deliverer = await RouteDeliverer.start(store, registry, queues, { waitSeconds });
  return {
    registry,
    queues,
    routes: new RouteStore(store, queues),
    deliverer,
    async close() {
      await deliverer.close();
      await queues.close();
      await registry.close();
    },
  };
}

export const CLIENT = '3f1c2a8e-5b4d-4c6e-9f0a-1b2c3d4e5f60';

/** Every message in the queue, oldest first (pub-sub listing: claimed ones too, nothing taken). */
export async function allMessages(queues: Queues, tenant: string, queue: string): Promise<Message[]> {
  const out: Message[] = [];
  let marker: string | undefined;
  for (;;) {
    const page = await queues.listMessages(tenant, queue, { clientId: CLIENT, marker, limit: 10, echo: true, includeClaimed: true });
    out.push(...page.messages);
    if (page.messages.length === 0 || page.marker === undefined) return out;
    marker = page.marker;
  }
}

/** Waits until the queue holds exactly `count` messages' worth (or more: then the caller's equality check fails). */
export async function waitForMessages(queues: Queues, tenant: string, queue: string, count: number, timeout = 30_000): Promise<RegistryEvent[]> {
  let got: Message[] = [];
  await expect
    .poll(
      async () => {
        got = await allMessages(queues, tenant, queue);
        return got.length >= count;
      },
      { timeout, interval: 100 },
    )
    .toBe(true);
  return got.map((m) => m.body as RegistryEvent);
}

/** The tenant's feed after `marker` (exclusive), every event. */
export async function feedAfter(registry: Registry, tenant: string, marker: string | null): Promise<RegistryEvent[]> {
  const out: RegistryEvent[] = [];
  let m = marker ?? undefined;
  // Only the first page's marker is an event already seen; next_marker names the next page's first event.
  let skip = m;
  for (;;) {
    const page = await registry.listEvents(tenant, { marker: m, limit: 1000 });
    out.push(...page.values.filter((e) => e.id !== skip));
    skip = undefined;
    if (page.metadata.next_marker === null) return out;
    m = page.metadata.next_marker;
  }
}

/** A short summary per event for readable equality checks. */
export function summary(ev: RegistryEvent): string {
  const p = ev.payload;
  return `${ev.type} ${'configuration_value_id' in p ? p.configuration_value_id : p.id}`;
}
