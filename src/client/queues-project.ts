import type { Queues } from '../queues/queues.js';
import type { Claim, Message, MessageList, MessageListOptions, Project, QueueListItem, QueueStats } from '../queues/types.js';
import { consume, type ConsumeOptions, type ConsumeResult, type MessageHandler } from './queue-consumer.js';
import { followMessages, type FollowBatch, type FollowOptions } from './queues-follow.js';

/** A message to post: its body and ttl in seconds (60..1209600 by default). */
export interface NewMessage {
  ttl: number;
  body: unknown;
}

/** A claim request: ttl and grace in seconds (60..43200 each by default). */
export interface ClaimBody {
  ttl: number;
  grace: number;
}

/**
 * One project's queues (the Client's `queues`): the Queues calls without the
 * project argument and with the client's own Client-ID, typed bodies, plus
 * `listAll` and `consume`. Thin on purpose: errors are the Queues' (QueueFault,
 * TetherError `client.*`), every call takes an optional AbortSignal last.
 */
export class ProjectQueues {
  constructor(
    readonly queues: Queues,
    readonly project: Project,
    /** Sent as Client-ID on posts and listings (echo=false hides what this id posted). */
    readonly clientId: string,
  ) {}

  create(name: string, signal?: AbortSignal): Promise<boolean> {
    return this.queues.createQueue(this.project, name, signal);
  }

  exists(name: string, signal?: AbortSignal): Promise<boolean> {
    return this.queues.queueExists(this.project, name, signal);
  }

  delete(name: string, signal?: AbortSignal): Promise<void> {
    return this.queues.deleteQueue(this.project, name, signal);
  }

  /** Every queue of the project, following the pages (an empty page ends them). */
  async listAll(opts: { detailed?: boolean } = {}, signal?: AbortSignal): Promise<QueueListItem[]> {
    const all: QueueListItem[] = [];
    for (let marker: string | undefined; ; ) {
      const page = await this.queues.listQueues(this.project, { marker, detailed: opts.detailed }, signal);
      const last = page.queues[page.queues.length - 1];
      if (last === undefined) return all;
      all.push(...page.queues);
      marker = last.name;
    }
  }

  getMetadata(name: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
    return this.queues.getMetadata(this.project, name, signal);
  }

  setMetadata(name: string, doc: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
    return this.queues.setMetadata(this.project, name, doc, signal);
  }

  stats(name: string, signal?: AbortSignal): Promise<QueueStats> {
    return this.queues.getStats(this.project, name, signal);
  }

  /** Posts all-or-nothing; resolves with the new ids in order. */
  post(name: string, messages: readonly NewMessage[], signal?: AbortSignal): Promise<string[]> {
    return this.queues.postMessages(this.project, name, this.clientId, messages, signal);
  }

  /** One page after `marker` (pass the returned `marker` for the next one). */
  list(name: string, opts: Omit<MessageListOptions, 'clientId'> = {}, signal?: AbortSignal): Promise<MessageList> {
    return this.queues.listMessages(this.project, name, { ...opts, clientId: this.clientId }, signal);
  }

  get(name: string, id: string, signal?: AbortSignal): Promise<Message> {
    return this.queues.getMessage(this.project, name, id, signal);
  }

  getMany(name: string, ids: readonly string[], signal?: AbortSignal): Promise<Message[]> {
    return this.queues.getMessages(this.project, name, ids, signal);
  }

  /** With `claimId`, deletes a message of that claim; without, an unclaimed one (403 forbidden otherwise). */
  deleteMessage(name: string, id: string, claimId?: string, signal?: AbortSignal): Promise<void> {
    return this.queues.deleteMessage(this.project, name, id, claimId, signal);
  }

  /** Deletes by ids, claimed or not (spec A16). */
  deleteMessages(name: string, ids: readonly string[], signal?: AbortSignal): Promise<void> {
    return this.queues.deleteMessages(this.project, name, ids, signal);
  }

  /** Null when nothing could be claimed (within `waitMs`, when given). */
  claim(name: string, body: ClaimBody, opts: { limit?: number; waitMs?: number } = {}, signal?: AbortSignal): Promise<Claim | null> {
    return this.queues.claimMessages(this.project, name, body, opts, signal);
  }

  getClaim(name: string, claimId: string, signal?: AbortSignal): Promise<Claim> {
    return this.queues.getClaim(this.project, name, claimId, signal);
  }

  renew(name: string, claimId: string, ttl: number, signal?: AbortSignal): Promise<void> {
    return this.queues.renewClaim(this.project, name, claimId, { ttl }, signal);
  }

  release(name: string, claimId: string, signal?: AbortSignal): Promise<void> {
    return this.queues.releaseClaim(this.project, name, claimId, signal);
  }

  /** Every new message, page by page, waiting for more, until `opts.signal` aborts (see `followMessages`). */
  follow(name: string, opts: Omit<FollowOptions, 'clientId'>): AsyncGenerator<FollowBatch> {
    return followMessages(this.queues, this.project, name, { ...opts, clientId: this.clientId });
  }

  /** Works the queue until `opts.signal` aborts (see `consume`). */
  consume(name: string, handler: MessageHandler, opts: ConsumeOptions): Promise<ConsumeResult> {
    return consume(this.queues, this.project, name, handler, opts);
  }
}
