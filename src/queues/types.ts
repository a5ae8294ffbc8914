/** Shapes of the Cloud Queues v1 domain (spec /work/shared/spec/queues-api-v1.md). hrefs are the HTTP layer's. */

/** A project id, or null for the global (project-less) namespace, isolated from every project (spec A7). */
export type Project = string | null;

/** Limits of spec section 3, as configuration with the upstream defaults (DEFAULT_QUEUE_LIMITS). */
export interface QueueLimits {
  maxQueueNameLength: number;
  maxProjectIdLength: number;
  defaultQueuesPerPage: number;
  maxQueuesPerPage: number;
  defaultMessagesPerPage: number;
  /** Also the maximum number of ids in get-by-ids and bulk delete (spec A4). */
  maxMessagesPerPage: number;
  defaultMessagesPerClaim: number;
  maxMessagesPerClaim: number;
  /** Messages per post; 0 = no count limit (the upstream default, spec A1). If set it must be >= 20. */
  maxMessagesPerPost: number;
  /** A whole post request, in bytes (inclusive). */
  maxMessagePostBytes: number;
  /** A metadata document, in bytes (inclusive). */
  maxMetadataBytes: number;
  minMessageTtl: number;
  maxMessageTtl: number;
  minClaimTtl: number;
  maxClaimTtl: number;
  minClaimGrace: number;
  maxClaimGrace: number;
  /** Longest `waitMs` a list or claim may hold (extension). */
  maxWaitMs: number;
}

export const DEFAULT_QUEUE_LIMITS: Readonly<QueueLimits> = Object.freeze({
  maxQueueNameLength: 64,
  maxProjectIdLength: 256,
  defaultQueuesPerPage: 10,
  maxQueuesPerPage: 20,
  defaultMessagesPerPage: 10,
  maxMessagesPerPage: 20,
  defaultMessagesPerClaim: 10,
  maxMessagesPerClaim: 20,
  maxMessagesPerPost: 0,
  maxMessagePostBytes: 262_144,
  maxMetadataBytes: 65_536,
  minMessageTtl: 60,
  maxMessageTtl: 1_209_600,
  minClaimTtl: 60,
  maxClaimTtl: 43_200,
  minClaimGrace: 60,
  maxClaimGrace: 43_200,
  maxWaitMs: 30_000,
});

/**
 * A message as every read returns it. `ttl - age` is the remaining life in seconds
 * (spec A13: ttl = expires_at - posted_at, rounded). `claimId` is set when the
 * message came from a claim (claim-style href `...?claim_id=`), never on list/get.
 */
export interface Message {
  id: string;
  ttl: number;
  /** Whole seconds since posted, >= 0. */
  age: number;
  body: unknown;
  claimId?: string;
}

export interface QueueListOptions {
  /** List strictly after this queue name (need not exist). */
  marker?: string | undefined;
  /** 1..maxQueuesPerPage, default defaultQueuesPerPage. */
  limit?: number | undefined;
  /** Add each queue's metadata. */
  detailed?: boolean | undefined;
}

export interface QueueListItem {
  name: string;
  /** Present only when `detailed`. */
  metadata?: Record<string, unknown>;
}

export interface QueueList {
  /** Empty = the HTTP layer answers 204. */
  queues: QueueListItem[];
}

export interface MessageListOptions {
  /** The requester's Client-ID (required: missingHeader when absent/empty, invalidApiCall when not a UUID). */
  clientId: string | undefined;
  /** Opaque, from a previous page's `marker`: only messages posted after it. Malformed or unknown -> an empty page, not a fault. */
  marker?: string | undefined;
  /** 1..maxMessagesPerPage, default defaultMessagesPerPage. */
  limit?: number | undefined;
  /** Include messages posted with the same Client-ID (default false). */
  echo?: boolean | undefined;
  /** Include messages under an unexpired claim (default false). */
  includeClaimed?: boolean | undefined;
  /** Extension: when nothing matches, hold up to this long (capped at maxWaitMs) for a post or a release. */
  waitMs?: number | undefined;
}

export interface MessageList {
  /** Oldest first. Empty = the HTTP layer answers 204. */
  messages: Message[];
  /** Marker of the last message returned (for the `next` link); absent when `messages` is empty. */
  marker?: string;
}

/** One end of the stats (oldest/newest by posting order, claimed included). */
export interface StatsMessage {
  id: string;
  /** Whole seconds since posted. */
  age: number;
  /** Posting time, UTC `YYYY-MM-DDTHH:MM:SSZ`. */
  created: string;
}

export interface QueueStats {
  claimed: number;
  free: number;
  total: number;
  /** Present only when total > 0. */
  oldest?: StatsMessage;
  newest?: StatsMessage;
}

export interface ClaimOptions {
  /** 1..maxMessagesPerClaim, default defaultMessagesPerClaim. */
  limit?: number | undefined;
  /** Extension: when no message is free, hold up to this long (capped at maxWaitMs) for one. */
  waitMs?: number | undefined;
}

export interface Claim {
  id: string;
  /** Seconds, as created or last renewed. */
  ttl: number;
  /** Whole seconds since created or last renewed. */
  age: number;
  /** The claim's messages that still exist (each with `claimId`). */
  messages: Message[];
}
