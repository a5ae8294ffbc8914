/**
 * The `tether` package entry: the typed client of the Service Registry v1.0
 * API (Client, HttpRegistry, HeartBeater, EventsFollower), the domain types
 * and errors, and the pieces to embed a registry (RegistryService over a
 * SQLite store, behind the HTTP server).
 */
export { Client } from './client/client.js';
export type {
  ClientOptions,
  ClientRegistryOptions,
  ClientUrlOptions,
  NewServiceBody,
  RegisterOptions,
  ServicePatchBody,
  SessionBody,
} from './client/client.js';
export { HttpRegistry } from './client/http-registry.js';
export type { HttpRegistryOptions } from './client/http-registry.js';
export { HeartBeater, SessionHeartBeater, TokenChainKeeper, heartbeatIntervalMs } from './client/heartbeater.js';
export type { HeartBeaterOptions, KeeperEvents, KeeperOptions, SessionHeartBeaterOptions } from './client/heartbeater.js';
export { EventsFollower } from './client/events-follower.js';
export type { EventsFollowerOptions } from './client/events-follower.js';
export { HttpQueues } from './client/queues.js';
export type { HttpQueuesOptions } from './client/queues.js';
export { consume } from './client/queue-consumer.js';
export type { ConsumeOptions, ConsumeResult, MessageContext, MessageHandler } from './client/queue-consumer.js';
export { QueueFault, isQueueFault, QUEUE_FAULTS } from './queues/faults.js';
export type { QueueFaultKind } from './queues/faults.js';
export type { Queues } from './queues/queues.js';
export { DEFAULT_QUEUE_LIMITS } from './queues/types.js';
export type * from './queues/types.js';

export { TetherError, hasCode } from './lib/errors.js';
export { RegistryFault, isFault, FAULT_STATUS } from './registry/faults.js';
export type { FaultDetails, FaultType } from './registry/faults.js';
export type { Registry } from './registry/registry.js';
export { EVENT_TYPES } from './registry/types.js';
export type * from './registry/types.js';

export { RegistryService } from './registry/service.js';
export type { RegistryServiceOptions } from './registry/service.js';
export { openSqliteStore } from './store/sqlite.js';
export type { SqliteStoreOptions } from './store/sqlite.js';
export type { Store } from './store/store.js';
export { createRegistryServer, createAuthTable, loadAuthFile } from './server/index.js';
export type { AuthTable, RegistryServer, RegistryServerOptions, TokenGrant } from './server/index.js';
export { createLogger, silentLogger } from './observability/logger.js';
export type { Clock } from './lib/clock.js';
