import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { HttpQueues } from '../client/queues.js';
import { HttpPool } from '../lib/http-pool.js';
import { upstreamTls } from '../agent/upstream-tls.js';
import { TetherError } from '../lib/errors.js';
import type { Manifest, Upstream } from '../manifest/model.js';
import type { AgentMetrics } from '../observability/metrics.js';
import type { Queues } from '../queues/queues.js';
import type { QueuePoster } from './queue-action.js';
import type { WorkerStatus } from './worker.js';
import type { Workers } from './workers.js';
import { failoverQueues } from './failover-queues.js';

/** A queues client and the project the workers use; the caller closes `queues`. */
export interface WorkerQueues {
  queues: Queues;
  project: string;
}

/**
 * The agent's side of workers: the queues client (the upstream server's /v1,
 * the tenant's project, the same token), opened when the first worker
 * appears, and the Workers applied as a diff at every reload. A manifest
 * without workers loads none of this.
 */
export class AgentWorkers {
  private workers: Workers | null = null;
  private owned: Queues | null = null;
  /** The https pools of `owned` and the files they came from: a reload renews their TLS material. */
  private pools: HttpPool[] = [];
  private tlsFiles: Upstream['tls'] = null;
  /** The queues client, opened once (concurrent first uses share one open). */
  private opening: Promise<WorkerQueues> | null = null;
  /** Applies run one at a time, in call order: two reloads never build two Workers, nor start a stale manifest's. */
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly clientId = randomUUID();

  constructor(
    private readonly log: Logger,
    private readonly metrics: AgentMetrics,
    private readonly given?: WorkerQueues,
  ) {}

  /**
   * Where queue actions post: the workers' client, opened at the first post
   * (a manifest whose only queue use is an action opens it then).
   */
  poster(m: () => Manifest): QueuePoster {
    return {
      post: async (queue, body, ttl, signal) => {
        const target = await this.target(m());
        const [id] = await target.queues.postMessages(target.project, queue, this.clientId, [{ ttl, body }], signal);
        return id ?? '';
      },
    };
  }

  apply(m: Manifest): Promise<{ started: string[]; stopped: string[]; kept: string[] }> {
    const run = this.chain.then(() => this.applyNow(m));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async applyNow(m: Manifest): Promise<{ started: string[]; stopped: string[]; kept: string[] }> {
    if (this.closed) return { started: [], stopped: [], kept: [] };
    if (this.workers === null) {
      if (m.workers.length === 0) return { started: [], stopped: [], kept: [] };
      const { Workers } = await import('./workers.js');
      const target = await this.target(m);
      this.workers = new Workers({
        ...target,
        log: this.log,
        onCount: (worker, counter) => this.metrics.workerMessages.inc({ worker, result: counter }),
        onInFlight: (worker, n) => this.metrics.workerInFlight.set({ worker }, n),
        onError: (worker) => this.metrics.workerLastError.set({ worker }, Date.now() / 1000),
        poster: this.poster(() => m),
      });
    }
    const diff = await this.workers.apply(m.workers);
    // A removed worker's series go with it (its counts would otherwise be scraped forever).
    for (const worker of diff.stopped.filter((n) => !diff.started.includes(n))) this.forget(worker);
    return diff;
  }

  private forget(worker: string): void {
    this.metrics.workerInFlight.remove({ worker });
    this.metrics.workerLastError.remove({ worker });
    for (const result of ['claimed', 'succeeded', 'failed', 'dead_lettered', 'skipped']) this.metrics.workerMessages.remove({ worker, result });
  }

  status(): WorkerStatus[] {
    return this.workers?.status() ?? [];
  }

  /** Waits for a running apply, stops every worker (running actions are aborted, their messages released), then the client. */
  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
    await this.workers?.close();
    await this.opening?.catch(() => undefined);
    await this.owned?.close();
    await Promise.all(this.pools.map((p) => p.close()));
  }

  /**
   * New connections of the queues client use the upstream.tls files as they
   * are now (a renewed client certificate); nothing to do before the client
   * opened or without TLS. Rejects with `agent.tls_invalid`, keeping the previous material.
   */
  async reloadTls(): Promise<void> {
    if (this.tlsFiles === null || this.pools.length === 0) return;
    const tls = await upstreamTls(this.tlsFiles);
    for (const p of this.pools) p.updateTls(tls);
  }

  private target(m: Manifest): Promise<WorkerQueues> {
    if (this.given) return Promise.resolve(this.given);
    // A failed open (token file missing, say) is tried again at the next use.
    this.opening ??= this.open(m).catch((err: unknown) => {
      this.opening = null;
      throw err;
    });
    return this.opening;
  }

  /** Every upstream server, as the agent's registry client has them (token, TLS, timeout), failed over in order. */
  private async open(m: Manifest): Promise<WorkerQueues> {
    const up = m.upstream;
    const first = up?.endpoints[0];
    if (!up || !first) throw new TetherError('agent.no_upstream', 'workers need upstream.url: the queues are on the registry server');
    const token = up.tokenFile ? (await readFile(up.tokenFile, 'utf8')).trim() : (up.token ?? undefined);
    const tls = up.tls ? await upstreamTls(up.tls) : undefined;
    this.tlsFiles = up.tls;
    const clients = up.endpoints.map((e) => {
      // Our own pool (the client then leaves it open), so that reloadTls can renew its material.
      const dispatcher = tls ? new HttpPool(new URL(e.base).origin, tls) : undefined;
      if (dispatcher) this.pools.push(dispatcher);
      return new HttpQueues({ url: e.base, ...(token ? { token } : {}), timeoutMs: up.timeoutMs, dispatcher });
    });
    this.owned = failoverQueues(clients, (from, to, err) =>
      this.log.warn({ from: up.endpoints[from]?.url, to: up.endpoints[to]?.url, err: err instanceof Error ? err.message : String(err) }, 'queues server failed; using the next one'),
    );
    return { queues: this.owned, project: first.tenant };
  }
}
