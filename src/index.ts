/**
 * The package's main entry (`tether-sidecar`): the typed clients of the
 * Service Registry v1.0 API (Client, HttpRegistry, HeartBeater,
 * EventsFollower) and of Cloud Queues v1 (HttpQueues, consume), their domain
 * types and errors. It loads no server, no store, no better-sqlite3, no zod
 * and no other dependency, so an application that only talks to a server
 * pays for none of them (test/deploy/entries.test.ts checks this); the server
 * and the stores are `tether-sidecar/server` (src/server-entry.ts).
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
export { ProjectQueues } from './client/queues-project.js';
export type { ClaimBody, NewMessage } from './client/queues-project.js';
export { consume } from './client/queue-consumer.js';
export { followMessages } from './client/queues-follow.js';
export type { FollowBatch, FollowOptions } from './client/queues-follow.js';
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
export type { Clock } from './lib/clock.js';
export type { TlsOptions } from './lib/http-pool.js';
