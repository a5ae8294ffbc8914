import { HttpQueues } from '../../src/client/queues.js';
import { silentLogger } from '../../src/observability/logger.js';
import { RegistryService } from '../../src/registry/service.js';
import { createRegistryServer } from '../../src/server/index.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { openQueueService, type QueuesImplementation } from '../helpers/queues.js';
import type { StoreFactory } from '../helpers/registries.js';

/**
 * The same QueueService behind the HTTP server on 127.0.0.1:0 (with the
 * registry beside it, as `tether registry` serves both), used through
 * HttpQueues: the queues conformance suite through the wire.
 */
export function queuesOverHttp(name: string, openStore: StoreFactory): QueuesImplementation {
  return {
    name,
    hasRaw: true,
    async open(opts = {}) {
      const clock = new FakeClock();
      // One store for both domains, as in the server process.
      let shared: { store: Parameters<typeof RegistryService.open>[0]; close(): Promise<void> } | undefined;
      const once: StoreFactory = async () => (shared ??= await openStore());
      const { service, close: closeService } = await openQueueService(once, clock, opts);
      const registry = await RegistryService.open((shared as NonNullable<typeof shared>).store, { clock, logger: silentLogger() });
      const server = createRegistryServer(registry, {
        logger: silentLogger(),
        queues: service,
      });
      let url: string;
      try {
        ({ url } = await server.listen(0, '127.0.0.1'));
      } catch (err) {
        await registry.close();
        await closeService();
        throw err;
      }
      const client = new HttpQueues({ url, token: 'conformance-token' });
      return {
        name,
        queues: client,
        clock,
        service,
        raw: { url },
        async close() {
          await client.close();
          await server.close();
          await registry.close();
          await closeService();
        },
      };
    },
  };
}
