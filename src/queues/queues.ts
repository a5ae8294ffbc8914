import type {
  Claim,
  ClaimOptions,
  Message,
  MessageList,
  MessageListOptions,
  Project,
  QueueList,
  QueueListOptions,
  QueueStats,
} from './types.js';

/**
 * The Cloud Queues v1 semantics (spec /work/shared/spec/queues-api-v1.md) for one
 * project per call; `project` null is the global namespace (spec A7).
 *
 * Implementations: `QueueService` (in-process, over a Store) and `HttpQueues`
 * (a client of the HTTP API). Both raise `QueueFault` (code `queues.<kind>`), so
 * callers see the same errors either way.
 *
 * Bodies are `unknown` on purpose: validation (types, ranges, sizes) happens
 * inside the domain, so a JSON body from the wire and an object from a
 * TypeScript caller are checked by the same code. Query-string parsing
 * (integers, booleans -> invalidQuery) is the HTTP layer's; range checks of the
 * parsed values (limit, waitMs) are the domain's (invalidApiCall).
 * Every call checks the project id (empty -> emptyProject; longer than
 * maxProjectIdLength -> invalidQueue where the call names a queue) and the queue
 * name (invalidQueue) before anything else. Storage failures raise `unavailable`.
 * Every method takes an optional AbortSignal: aborted before the call or
 * during a wait, it rejects with the signal's reason having changed nothing;
 * a change already committed (a claim made) is returned, never hidden.
 */
export interface Queues {
  /** True when created (201), false when it already existed (204). */
  createQueue(project: Project, name: string, signal?: AbortSignal): Promise<boolean>;
  queueExists(project: Project, name: string, signal?: AbortSignal): Promise<boolean>;
  /** Removes the queue, its metadata, messages and claims; no-op when missing. */
  deleteQueue(project: Project, name: string, signal?: AbortSignal): Promise<void>;
  /** Sorted by name (byte order), strictly after `marker`. */
  listQueues(project: Project, opts?: QueueListOptions, signal?: AbortSignal): Promise<QueueList>;

  /** The stored object (`{}` if never set). notFound when the queue is missing. */
  getMetadata(project: Project, name: string, signal?: AbortSignal): Promise<Record<string, unknown>>;
  /** Replaces the whole document. invalidApiCall when too large, invalidBody when not an object, then notFound. */
  setMetadata(project: Project, name: string, doc: unknown, signal?: AbortSignal): Promise<void>;
  /** notFound when the queue is missing. */
  getStats(project: Project, name: string, signal?: AbortSignal): Promise<QueueStats>;

  /**
   * Posts `[{ttl, body}, ...]` all-or-nothing; returns the new ids in request order.
   * Checks in spec 5.1 order: clientId (missingHeader / invalidApiCall), size
   * (invalidApiCall), body (invalidBody), ttl ranges (invalidApiCall), then notFound.
   */
  postMessages(project: Project, name: string, clientId: string | undefined, messages: unknown, signal?: AbortSignal): Promise<string[]>;
  /** Oldest first after `marker`; empty for a missing queue (spec A11) or a bad marker. */
  listMessages(project: Project, name: string, opts: MessageListOptions, signal?: AbortSignal): Promise<MessageList>;
  /** Messages among `ids` that exist (order unspecified); 1..maxMessagesPerPage ids else invalidApiCall. */
  getMessages(project: Project, name: string, ids: readonly string[], signal?: AbortSignal): Promise<Message[]>;
  /** notFound when malformed, unknown, expired, or the queue is missing. */
  getMessage(project: Project, name: string, id: string, signal?: AbortSignal): Promise<Message>;
  /** Deletes those of `ids` that exist, claimed or not (spec A16); 1..maxMessagesPerPage ids else invalidApiCall. */
  deleteMessages(project: Project, name: string, ids: readonly string[], signal?: AbortSignal): Promise<void>;
  /**
   * Deletes one message; no-op when unknown. forbidden (403) when it is under a
   * claim other than `claimId` (or under any claim and no claimId is given), or
   * when `claimId` is given and the message is not (or no longer) in that claim.
   * A malformed `claimId` is a no-op (spec A8).
   */
  deleteMessage(project: Project, name: string, id: string, claimId?: string, signal?: AbortSignal): Promise<void>;

  /**
   * Claims up to `limit` free messages, oldest first, with body `{ttl, grace}`.
   * Returns null when none could be claimed (also for a missing queue, spec A10);
   * with `waitMs`, first waits up to that long for one to become free.
   */
  claimMessages(project: Project, name: string, body: unknown, opts?: ClaimOptions, signal?: AbortSignal): Promise<Claim | null>;
  /** notFound when unknown, malformed, expired, released, or all its messages are gone (spec A12). */
  getClaim(project: Project, name: string, claimId: string, signal?: AbortSignal): Promise<Claim>;
  /** Body `{ttl}` (grace ignored). invalidBody / invalidApiCall first, then notFound. */
  renewClaim(project: Project, name: string, claimId: string, body: unknown, signal?: AbortSignal): Promise<void>;
  /** Frees the claim's messages; no-op when unknown. */
  releaseClaim(project: Project, name: string, claimId: string, signal?: AbortSignal): Promise<void>;

  /** Resolves when storage is reachable; unavailable otherwise. */
  health(signal?: AbortSignal): Promise<void>;
  /** Graceful: wakes waiters (they return empty), stops timers. Idempotent. Leaves the store open. */
  close(): Promise<void>;
}
