import type { Logger } from 'pino';
import { systemClock, type Clock } from '../lib/clock.js';
import { TetherError } from '../lib/errors.js';
import { silentLogger } from '../observability/logger.js';
import type { Store } from '../store/store.js';
import * as claims from './claims.js';
import type { Ctx } from './context.js';
import { sweepExpired, type SweepResult } from './expiry.js';
import { isQueueFault, queueFault } from './faults.js';
import { followChanges } from './feed.js';
import { Handoff } from './handoff.js';
import { Hints } from './hints.js';
import { queueKeys, type QueueKeys } from './keys.js';
import * as messages from './messages.js';
import { postCapacity, Poster } from './posting.js';
import * as queueOps from './queue-ops.js';
import type { Queues } from './queues.js';
import {
  DEFAULT_QUEUE_LIMITS,
  type Claim,
  type ClaimOptions,
  type Message,
  type MessageList,
  type MessageListOptions,
  type Project,
  type QueueLimits,
  type QueueList,
  type QueueListOptions,
  type QueueStats,
} from './types.js';
import * as v from './validation.js';
import { KeyedTurns } from './turns.js';
import { Waiters } from './waiting.js';
import { waitFor } from './wait-for.js';

export interface QueueServiceOptions {
  clock?: Clock;
  logger?: Logger;
  /** Overrides of the spec's limits (upstream defaults otherwise). */
  limits?: Partial<QueueLimits>;
  /** How often expired messages and claims are deleted (default 30 s, jittered by +-20%; 0 disables the sweep). */
  sweepIntervalMs?: number;
}

/**
 * The Cloud Queues v1 semantics, written once over a Store. The store is the
 * caller's: close() stops this service's sweep and waiters but leaves the
 * store open. Build it with `QueueService.open` (it starts following the
 * store's changes, which waiting and claim hints rely on).
 */
export class QueueService implements Queues {
  private readonly poster: Poster;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly ctx: Ctx,
    private readonly sweepIntervalMs: number,
    private readonly stop: AbortController,
  ) {
    this.poster = new Poster(ctx);
  }

  /** Starts following the store's changes and the sweep. Rejects: `queues.config` for bad limits, unavailable when the store fails. */
  static async open(store: Store, opts: QueueServiceOptions = {}): Promise<QueueService> {
    const limits = limitsFor(store, { ...DEFAULT_QUEUE_LIMITS, ...opts.limits });
    const stop = new AbortController();
    const ctx: Ctx = {
      store,
      clock: opts.clock ?? systemClock,
      limits,
      log: (opts.logger ?? silentLogger()).child({ component: 'queues' }),
      hints: new Hints(),
      waiters: new Waiters(),
      reserved: new Set(),
      scans: new KeyedTurns(),
      handoff: new Handoff(),
      closing: stop.signal,
    };
    const service = new QueueService(ctx, opts.sweepIntervalMs ?? 30_000, stop);
    await guard(() => followChanges(ctx, store));
    service.scheduleSweep();
    return service;
  }

  /** The limits in force (the options over the upstream defaults, the post count capped by the store's txn limit). */
  get limits(): Readonly<QueueLimits> {
    return this.ctx.limits;
  }

  createQueue(project: Project, name: string, signal?: AbortSignal): Promise<boolean> {
    return this.run(signal, () => queueOps.createQueue(this.ctx, this.named(project, name)));
  }

  queueExists(project: Project, name: string, signal?: AbortSignal): Promise<boolean> {
    return this.run(signal, () => queueOps.queueExists(this.ctx, this.named(project, name)));
  }

  deleteQueue(project: Project, name: string, signal?: AbortSignal): Promise<void> {
    return this.run(signal, async () => {
      const keys = this.named(project, name);
      await queueOps.deleteQueue(this.ctx, keys);
      this.poster.forget(keys.id);
    });
  }

  listQueues(project: Project, opts: QueueListOptions = {}, signal?: AbortSignal): Promise<QueueList> {
    return this.run(signal, () => {
      v.checkProject(project, this.ctx.limits, false);
      const { defaultQueuesPerPage, maxQueuesPerPage } = this.ctx.limits;
      const limit = v.checkLimit(opts.limit, defaultQueuesPerPage, maxQueuesPerPage, 'queues per page');
      return queueOps.listQueues(this.ctx, project, { marker: opts.marker, limit, detailed: opts.detailed === true });
    });
  }

  getMetadata(project: Project, name: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
    return this.run(signal, () => queueOps.getMetadata(this.ctx, this.named(project, name)));
  }

  setMetadata(project: Project, name: string, doc: unknown, signal?: AbortSignal): Promise<void> {
    return this.run(signal, () => {
      const keys = this.named(project, name);
      return queueOps.setMetadata(this.ctx, keys, v.checkMetadata(doc, this.ctx.limits));
    });
  }

  getStats(project: Project, name: string, signal?: AbortSignal): Promise<QueueStats> {
    return this.run(signal, () => queueOps.getStats(this.ctx, this.named(project, name)));
  }

  postMessages(project: Project, name: string, clientId: string | undefined, msgs: unknown, signal?: AbortSignal): Promise<string[]> {
    return this.run(signal, () => {
      const keys = this.named(project, name);
      const client = v.parseClientId(clientId);
      return this.poster.post(keys, client, v.checkPost(msgs, this.ctx.limits));
    });
  }

  listMessages(project: Project, name: string, opts: MessageListOptions, signal?: AbortSignal): Promise<MessageList> {
    return this.run(signal, () => {
      const keys = this.named(project, name);
      const { defaultMessagesPerPage, maxMessagesPerPage } = this.ctx.limits;
      const query: messages.ListQuery = {
        clientId: v.parseClientId(opts.clientId),
        marker: opts.marker,
        limit: v.checkLimit(opts.limit, defaultMessagesPerPage, maxMessagesPerPage, 'messages per page'),
        echo: opts.echo === true,
        includeClaimed: opts.includeClaimed === true,
      };
      const waitMs = v.checkWait(opts.waitMs, this.ctx.limits);
      const attempt = async (): Promise<MessageList | null> => {
        const page = await messages.listMessages(this.ctx, keys, query);
        return page.messages.length > 0 ? page : null;
      };
      return waitFor(this.ctx, keys, waitMs, signal, attempt).then((page) => page ?? { messages: [] });
    });
  }

  getMessages(project: Project, name: string, ids: readonly string[], signal?: AbortSignal): Promise<Message[]> {
    return this.run(signal, () => {
      const keys = this.named(project, name);
      v.checkIds(ids, this.ctx.limits);
      return messages.getMessages(this.ctx, keys, ids);
    });
  }

  getMessage(project: Project, name: string, id: string, signal?: AbortSignal): Promise<Message> {
    return this.run(signal, () => messages.getMessage(this.ctx, this.named(project, name), id));
  }

  deleteMessages(project: Project, name: string, ids: readonly string[], signal?: AbortSignal): Promise<void> {
    return this.run(signal, () => {
      const keys = this.named(project, name);
      v.checkIds(ids, this.ctx.limits);
      return messages.deleteMessages(this.ctx, keys, ids);
    });
  }

  deleteMessage(project: Project, name: string, id: string, claimId?: string, signal?: AbortSignal): Promise<void> {
    return this.run(signal, () => messages.deleteMessage(this.ctx, this.named(project, name), id, claimId));
  }

  claimMessages(project: Project, name: string, body: unknown, opts: ClaimOptions = {}, signal?: AbortSignal): Promise<Claim | null> {
    return this.run(signal, () => {
      const keys = this.named(project, name);
      const { defaultMessagesPerClaim, maxMessagesPerClaim } = this.ctx.limits;
      const limit = v.checkLimit(opts.limit, defaultMessagesPerClaim, maxMessagesPerClaim, 'messages per claim');
      const { ttl, grace } = v.checkClaimBody(body, this.ctx.limits);
      const waitMs = v.checkWait(opts.waitMs, this.ctx.limits);
      return waitFor(this.ctx, keys, waitMs, signal, () => claims.claimMessages(this.ctx, keys, ttl, grace, limit), { ttl, grace, limit });
    });
  }

  getClaim(project: Project, name: string, claimId: string, signal?: AbortSignal): Promise<Claim> {
    return this.run(signal, () => claims.getClaim(this.ctx, this.named(project, name), claimId));
  }

  renewClaim(project: Project, name: string, claimId: string, body: unknown, signal?: AbortSignal): Promise<void> {
    return this.run(signal, () => {
      const keys = this.named(project, name);
      return claims.renewClaim(this.ctx, keys, claimId, v.checkRenewBody(body, this.ctx.limits));
    });
  }

  releaseClaim(project: Project, name: string, claimId: string, signal?: AbortSignal): Promise<void> {
    return this.run(signal, () => claims.releaseClaim(this.ctx, this.named(project, name), claimId));
  }

  health(signal?: AbortSignal): Promise<void> {
    return this.run(signal, async () => {
      await this.ctx.store.revision();
    });
  }

  /** Deletes expired messages and claims now (the periodic sweep's work). */
  sweep(): Promise<SweepResult> {
    return guard(() => sweepExpired(this.ctx, this.stop.signal));
  }

  /** Wakes every waiter (they return empty) and stops the sweep. Idempotent. */
  async close(): Promise<void> {
    if (this.stop.signal.aborted) return;
    this.stop.abort();
    clearTimeout(this.timer);
    this.ctx.waiters.wakeAll();
    await this.sweeping;
  }

  /** Project and queue name checked (spec 2.2 steps 3-4), then the queue's keys. */
  private named(project: Project, name: string): QueueKeys {
    v.checkProject(project, this.ctx.limits, true);
    v.checkQueueName(name, this.ctx.limits);
    return queueKeys(project, name);
  }

  /**
   * Runs one operation. An aborted signal stops it before it starts, and
   * ends a wait (waitFor); a result already committed is returned even if the
   * signal aborts meanwhile, so a claim is never made and then hidden.
   */
  private run<T>(signal: AbortSignal | undefined, fn: () => Promise<T> | T): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return guard(fn);
  }

  private scheduleSweep(): void {
    if (this.sweepIntervalMs <= 0 || this.stop.signal.aborted) return;
    const delay = this.sweepIntervalMs * (0.8 + Math.random() * 0.4);
    this.timer = setTimeout(() => {
      this.sweeping = this.sweep()
        .catch((err: unknown) => this.ctx.log.warn({ err }, 'queue expiry sweep failed'))
        .finally(() => this.scheduleSweep());
    }, delay);
    this.timer.unref();
  }
}

/**
 * Runs `fn`, turning storage failures into `unavailable` (spec 2.7: 503) and
 * a RangeError (a recursion over a document too deep, a bad length) into
 * invalidApiCall rather than a bug's 500; faults and aborts pass through.
 */
async function guard<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof RangeError) throw queueFault('invalidApiCall', 'The request involves a document that cannot be handled.', err);
    if (isQueueFault(err) || !(err instanceof TetherError) || !err.code.startsWith('store.')) throw err;
    throw queueFault('unavailable', 'Queue storage is not available; try again later.', err);
  }
}

/**
 * The limits checked, with the post count capped where one txn cannot hold
 * more (etcd): a bigger post would fail at the store on every retry.
 */
function limitsFor(store: Store, limits: QueueLimits): QueueLimits {
  const capacity = postCapacity(store);
  if (capacity !== undefined && (limits.maxMessagesPerPost === 0 || limits.maxMessagesPerPost > capacity)) {
    if (capacity < 20) {
      throw new TetherError('queues.config', `the store's txn limit (${store.maxTxnOps} operations) leaves room for ${capacity} messages per post; spec A1 needs at least 20`);
    }
    limits.maxMessagesPerPost = capacity;
  }
  if (limits.maxMessagesPerPost > 0 && limits.maxMessagesPerPost < 20) {
    // Spec A1: upstream's own tests post 20 messages at once.
    throw new TetherError('queues.config', `maxMessagesPerPost must be 0 (no limit) or at least 20, got ${limits.maxMessagesPerPost}`);
  }
  return limits;
}

/** The factory `tether registry` uses for either store. */
export function createQueueService(store: Store, opts: QueueServiceOptions = {}): Promise<QueueService> {
  return QueueService.open(store, opts);
}
