import { describe, expect, it, vi } from 'vitest';
import { consume } from '../../src/client/queue-consumer.js';
import { HttpQueues } from '../../src/client/queues.js';
import { silentLogger } from '../../src/observability/logger.js';
import { QueueService } from '../../src/queues/service.js';
import type { Message } from '../../src/queues/types.js';
import { RegistryService } from '../../src/registry/service.js';
import { createRegistryServer, type RegistryServer } from '../../src/server/index.js';
import { openEtcdStore, type EtcdStore } from '../../src/store/etcd.js';
import { uniquePrefix, useEtcd } from '../helpers/etcd.js';

/**
 * The fleet case: two servers over one etcd (one prefix), each with its own
 * consumers through HttpQueues. Every message is handled by exactly one
 * consumer, whichever server it claims through.
 */
const etcd = useEtcd();

interface Server {
  url: string;
  close(): Promise<void>;
}

async function startServer(prefix: string): Promise<Server> {
  const store: EtcdStore = await openEtcdStore({ endpoints: etcd().endpoints, prefix, compactionIntervalMs: 0 });
  const registry = await RegistryService.open(store, { logger: silentLogger() });
  const queues = await QueueService.open(store, { logger: silentLogger() });
  const server: RegistryServer = createRegistryServer(registry, { logger: silentLogger(), queues });
  const { url } = await server.listen(0, '127.0.0.1');
  return {
    url,
    async close() {
      await server.close();
      await queues.close();
      await registry.close();
      await store.close();
    },
  };
}

describe('consume() across two servers over one etcd', () => {
  it('hands each message to exactly one of four consumers on two servers', async () => {
    const prefix = uniquePrefix();
    const servers = [await startServer(prefix), await startServer(prefix)];
    const clients = servers.flatMap((s) => [new HttpQueues({ url: s.url }), new HttpQueues({ url: s.url })]);
    const [producer] = clients as [HttpQueues];
    const stop = new AbortController();
    try {
      await producer.createQueue('fleet', 'events');
      const ids: string[] = [];
      for (let i = 0; i < 100; i += 20) {
        ids.push(...(await producer.postMessages('fleet', 'events', producer.clientId, Array.from({ length: 20 }, (_, j) => ({ ttl: 600, body: i + j })))));
      }
      const seen: Array<{ id: string; by: number }> = [];
      const runs = clients.map((q, by) =>
        consume(q, 'fleet', 'events', (m: Message) => void seen.push({ id: m.id, by }), { signal: stop.signal, limit: 5, waitMs: 2000 }),
      );
      await vi.waitFor(async () => expect((await producer.getStats('fleet', 'events')).total).toBe(0), { timeout: 30_000 });
      stop.abort();
      const results = await Promise.all(runs);
      expect(seen.map((s) => s.id).sort()).toEqual([...ids].sort());
      expect(results.reduce((n, r) => n + r.handled, 0)).toBe(100);
      // Both servers did work (the claims really went through each of them).
      const byServer = [0, 1].map((srv) => seen.filter((s) => Math.floor(s.by / 2) === srv).length);
      expect(byServer.every((n) => n > 0)).toBe(true);
    } finally {
      stop.abort();
      await Promise.all(clients.map((c) => c.close()));
      for (const s of servers) await s.close();
    }
  });
});
