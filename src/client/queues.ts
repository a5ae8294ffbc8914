import { randomUUID } from 'node:crypto';
import { HttpPool, type HttpDispatcher, type TlsOptions } from '../lib/http-pool.js';
import { apiCall, headerValue, type ApiTarget, type Reply } from './api-call.js';
import { TetherError } from '../lib/errors.js';
import { isQueueFault } from '../queues/faults.js';
import type { Queues } from '../queues/queues.js';
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
} from '../queues/types.js';
import { parseRoot } from './paths.js';
import { HEADER_SAFE, claimPath, idsQuery, messagePath, query, queuePath, toJson, waitSeconds, wholeLimit } from './queues-request.js';
import {
  badResponse,
  faultFromQueuesReply,
  idFromHref,
  parseClaim,
  parseMessage,
  parseMessageList,
  parsePostedIds,
  parseQueueList,
  parseStats,
} from './queues-wire.js';

export interface HttpQueuesOptions {
  /** Server root, e.g. `http://127.0.0.1:8470`, with or without a trailing `/v1`. */
  url: string;
  /** Sent as `X-Auth-Token` on every request (a tenant's token is valid for the project of the same id). Never logged. */
  token?: string | undefined;
  /**
   * Sent as `Client-ID` on the calls that take no client id parameter (claims, gets, deletes: the
   * spec's clients SHOULD always send one, A6); default a random UUID made once per instance.
   * `postMessages` and `listMessages` send the id they are passed instead, and none for `undefined`,
   * which the server refuses (`missingHeader`) as QueueService does: pass `queues.clientId` there.
   */
  clientId?: string | undefined;
  /** Put the project in the path (`/v1/{project}/queues/...`, spec A7) instead of `X-Project-Id`. */
  projectInPath?: boolean | undefined;
  /** Per-request deadline, ms (default 10 s). Waiting calls get `wait + 10 s` instead. */
  timeoutMs?: number | undefined;
  /** Bring your own connection pool; the caller owns it (`close()` leaves it open). */
  dispatcher?: HttpDispatcher | undefined;
  /** For an https URL: the CA, client certificate and key (PEM) and server name of the pool made here (not with `dispatcher`). */
  tls?: TlsOptions | undefined;
}

interface CallOptions {
  /** Absent = no body; anything else is sent as JSON. */
  body?: unknown;
  /** Sent as `Client-ID`; null = no header (the call's own client id was absent). */
  clientId?: string | null;
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const LONG_POLL_SLACK_MS = 10_000;

/** Project ids the path form cannot carry (segments that name resources after /v1/), and the empty one. */
const PATH_UNSAFE = new Set(['', 'queues', 'health']);

/**
 * The Queues interface over the Cloud Queues v1 HTTP API (node:http,
 * keep-alive pool, one per instance), so code written against Queues runs
 * in-process or remote unchanged.
 *
 * Errors: a non-2xx reply becomes the QueueFault of its status and title (see
 * `faultFromQueuesReply`); 401 TetherError `client.unauthorized`; no reply
 * `client.unreachable`; no reply within the deadline `client.timeout`; a call
 * after `close()` `client.closed`; a 2xx that is not the JSON we expect
 * `client.badResponse`. On abort every method rejects with the signal's reason.
 */
export class HttpQueues implements Queues {
  /** The Client-ID this instance sends on calls without a client id parameter (see HttpQueuesOptions.clientId). */
  readonly clientId: string;
  private readonly origin: string;
  private readonly basePath: string;
  private readonly token: string | undefined;
  private readonly projectInPath: boolean;
  private readonly timeoutMs: number;
  private readonly dispatcher: HttpDispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly target: ApiTarget;
  private closing: Promise<void> | undefined;

  constructor(opts: HttpQueuesOptions) {
    const root = parseRoot(opts.url);
    this.origin = root.origin;
    this.basePath = root.basePath.replace(/\/v1$/, '');
    this.token = opts.token;
    this.clientId = opts.clientId ?? randomUUID();
    this.projectInPath = opts.projectInPath === true;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.ownsDispatcher = opts.dispatcher === undefined;
    this.dispatcher = opts.dispatcher ?? new HttpPool(this.origin, opts.tls);
    this.target = { dispatcher: this.dispatcher, origin: this.origin, client: 'queues', peer: 'queues server', fault: faultFromQueuesReply };
  }

  async createQueue(project: Project, name: string, signal?: AbortSignal): Promise<boolean> {
    return (await this.call('PUT', project, queuePath(name), { signal })).status === 201;
  }

  async queueExists(project: Project, name: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.call('GET', project, queuePath(name), { signal });
      return true;
    } catch (err) {
      if (isQueueFault(err, 'notFound')) return false;
      throw err;
    }
  }

  async deleteQueue(project: Project, name: string, signal?: AbortSignal): Promise<void> {
    await this.call('DELETE', project, queuePath(name), { signal });
  }

  async listQueues(project: Project, opts: QueueListOptions = {}, signal?: AbortSignal): Promise<QueueList> {
    const q = query({ marker: opts.marker, limit: wholeLimit(opts.limit), detailed: opts.detailed });
    const reply = await this.call('GET', project, `/queues${q}`, { signal });
    return reply.status === 204 ? { queues: [] } : parseQueueList(json(reply));
  }

  async getMetadata(project: Project, name: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const doc = json(await this.call('GET', project, `${queuePath(name)}/metadata`, { signal }));
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw badResponse('metadata is not an object');
    return doc as Record<string, unknown>;
  }

  async setMetadata(project: Project, name: string, doc: unknown, signal?: AbortSignal): Promise<void> {
    await this.call('PUT', project, `${queuePath(name)}/metadata`, { body: doc, signal });
  }

  async getStats(project: Project, name: string, signal?: AbortSignal): Promise<QueueStats> {
    return parseStats(json(await this.call('GET', project, `${queuePath(name)}/stats`, { signal })));
  }

  async postMessages(project: Project, name: string, clientId: string | undefined, messages: unknown, signal?: AbortSignal): Promise<string[]> {
    const reply = await this.call('POST', project, `${queuePath(name)}/messages`, { body: messages, clientId: clientId ?? null, signal });
    return parsePostedIds(json(reply));
  }

  async listMessages(project: Project, name: string, opts: MessageListOptions, signal?: AbortSignal): Promise<MessageList> {
    const wait = waitSeconds(opts.waitMs);
    const q = query({ marker: opts.marker, limit: wholeLimit(opts.limit), echo: opts.echo, include_claimed: opts.includeClaimed, wait });
    const reply = await this.call('GET', project, `${queuePath(name)}/messages${q}`, {
      clientId: opts.clientId ?? null,
      signal,
      timeoutMs: this.deadline(wait),
    });
    return reply.status === 204 ? { messages: [] } : parseMessageList(json(reply));
  }

  async getMessages(project: Project, name: string, ids: readonly string[], signal?: AbortSignal): Promise<Message[]> {
    const reply = await this.call('GET', project, `${queuePath(name)}/messages${idsQuery(ids)}`, { signal });
    if (reply.status === 204) return [];
    const list = json(reply);
    if (!Array.isArray(list)) throw badResponse('messages by id is not an array');
    return list.map(parseMessage);
  }

  async getMessage(project: Project, name: string, id: string, signal?: AbortSignal): Promise<Message> {
    return parseMessage(json(await this.call('GET', project, messagePath(name, id), { signal })));
  }

  async deleteMessages(project: Project, name: string, ids: readonly string[], signal?: AbortSignal): Promise<void> {
    await this.call('DELETE', project, `${queuePath(name)}/messages${idsQuery(ids)}`, { signal });
  }

  async deleteMessage(project: Project, name: string, id: string, claimId?: string, signal?: AbortSignal): Promise<void> {
    await this.call('DELETE', project, `${messagePath(name, id)}${query({ claim_id: claimId })}`, { signal });
  }

  /**
   * POST .../claims. The reply carries the messages and the claim's href
   * (Location), not its ttl or age: a new claim's ttl is the one asked for
   * and its age 0, as the server set them (no second request).
   */
  async claimMessages(project: Project, name: string, body: unknown, opts: ClaimOptions = {}, signal?: AbortSignal): Promise<Claim | null> {
    const wait = waitSeconds(opts.waitMs);
    const path = `${queuePath(name)}/claims${query({ limit: wholeLimit(opts.limit), wait })}`;
    const reply = await this.call('POST', project, path, { body, signal, timeoutMs: this.deadline(wait) });
    if (reply.status === 204) return null;
    const location = headerValue(reply.headers.location);
    if (location === undefined) throw badResponse('claim without a Location');
    const list = json(reply);
    if (!Array.isArray(list)) throw badResponse('claimed messages are not an array');
    const ttl = (body as { ttl?: unknown } | null)?.ttl;
    return { id: idFromHref(location), ttl: typeof ttl === 'number' ? ttl : 0, age: 0, messages: list.map(parseMessage) };
  }

  async getClaim(project: Project, name: string, claimId: string, signal?: AbortSignal): Promise<Claim> {
    return parseClaim(json(await this.call('GET', project, claimPath(name, claimId), { signal })), claimId);
  }

  async renewClaim(project: Project, name: string, claimId: string, body: unknown, signal?: AbortSignal): Promise<void> {
    await this.call('PATCH', project, claimPath(name, claimId), { body, signal });
  }

  async releaseClaim(project: Project, name: string, claimId: string, signal?: AbortSignal): Promise<void> {
    await this.call('DELETE', project, claimPath(name, claimId), { signal });
  }

  async health(signal?: AbortSignal): Promise<void> {
    await this.call('GET', null, '/health', { signal });
  }

  /** Graceful: lets in-flight requests finish, then closes the pool (if it is ours). Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.ownsDispatcher ? this.dispatcher.close() : Promise.resolve();
    return this.closing;
  }

  /** Immediate: fails in-flight requests (waiting ones included) and closes the pool (if it is ours). */
  async destroy(): Promise<void> {
    this.closing ??= Promise.resolve();
    if (this.ownsDispatcher) await this.dispatcher.destroy();
  }

  private deadline(waitSec: number | undefined): number {
    return waitSec === undefined || waitSec <= 0 ? this.timeoutMs : Math.max(this.timeoutMs, waitSec * 1000 + LONG_POLL_SLACK_MS);
  }

  /** One request: 2xx resolves with the reply, anything else rejects (see the class doc). */
  private call(method: string, project: Project, path: string, opts: CallOptions): Promise<Reply> {
    opts.signal?.throwIfAborted();
    if (this.closing) throw new TetherError('client.closed', 'the queues client is closed');
    return apiCall(this.target, {
      method,
      path: `${this.prefix(project)}${path}`,
      headers: this.headers(project, opts.clientId),
      body: opts.body === undefined ? null : toJson(opts.body),
      timeoutMs: opts.timeoutMs ?? this.timeoutMs,
      signal: opts.signal,
      // The server may have applied a request whose connection broke: a post or claim sent again would be
      // a second post or claim. GET, HEAD, PUT and DELETE mean the same applied twice.
      resendOnReset: method !== 'POST' && method !== 'PATCH',
    });
  }

  /**
   * Whether `project` goes in the path: when asked to, and also when a
   * header cannot carry it (characters beyond Latin-1: the spec allows any
   * project id, HTTP headers do not). Never '' (the header says "empty",
   * the path cannot) nor `queues`/`health`, which the path reads as resources.
   */
  private inPath(project: Project): project is string {
    if (project === null || PATH_UNSAFE.has(project)) return false;
    return this.projectInPath || !HEADER_SAFE.test(project);
  }

  private prefix(project: Project): string {
    if (this.inPath(project)) return `${this.basePath}/v1/${encodeURIComponent(project)}`;
    return `${this.basePath}/v1`;
  }

  private headers(project: Project, clientId: string | null | undefined): Record<string, string> {
    const h: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (project !== null && !this.inPath(project)) h['x-project-id'] = project;
    const cid = clientId === undefined ? this.clientId : clientId;
    if (cid !== null) h['client-id'] = cid;
    if (this.token !== undefined) h['x-auth-token'] = this.token;
    return h;
  }
}

function json(reply: Reply): unknown {
  try {
    return JSON.parse(reply.text);
  } catch (cause) {
    throw badResponse(`HTTP ${reply.status} body is not JSON`, cause);
  }
}

