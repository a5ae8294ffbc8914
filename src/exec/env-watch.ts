import { EventsFollower } from '../client/events-follower.js';
import type { ExecEnvSource } from '../manifest/model.js';
import { SourceData } from '../materialize/data.js';
import type { Registry } from '../registry/registry.js';
import { buildEnv, envSourceSpec } from './env.js';

export interface EnvWatchOptions {
  registry: Registry;
  tenant: string;
  sources: readonly ExecEnvSource[];
  /** Tether's own environment, the base of the child's. */
  base: NodeJS.ProcessEnv;
  /** The configuration variables changed since the running child was started. */
  onChange: () => void;
  onError?: (err: unknown) => void;
}

/**
 * The child's environment from configuration values: read once before the
 * first start, then kept current from the events feed. A change is reported
 * only when the variables differ from those the running child got, so a
 * replayed or unrelated event never restarts it.
 */
export class EnvWatch {
  private readonly data: SourceData;
  private follower: EventsFollower | null = null;
  private started = '';
  private readonly ac = new AbortController();

  constructor(private readonly opts: EnvWatchOptions) {
    this.data = new SourceData(opts.sources.map(envSourceSpec));
  }

  /** Reads every source (rejects on the first registry failure). */
  sync(signal?: AbortSignal): Promise<void> {
    return this.data.sync(this.opts.registry, this.opts.tenant, signal);
  }

  /** Follows the feed from now on. Without sources there is nothing to follow. */
  start(): void {
    if (this.opts.sources.length === 0) return;
    this.follower = new EventsFollower({
      registry: this.opts.registry,
      tenant: this.opts.tenant,
      waitSec: 30,
      onEvents: async (events) => {
        const changed = this.data.apply(events);
        // A secret key's event carries no value (registry/secret-prefixes.ts): read it. A failure throws, and the follower delivers the batch again.
        for (const id of await this.data.fetchSecrets(this.opts.registry, this.opts.tenant, this.ac.signal)) changed.add(id);
        if (changed.size === 0 || !this.differs()) return;
        // Without a marker the feed starts an hour back: its first pages replay values older than the
        // sync, and a restart for one would start the child with a stale value. The registry says what is current.
        await this.sync(this.ac.signal);
        if (this.differs()) this.opts.onChange();
      },
      onReset: () => this.sync(this.ac.signal).then(() => (this.differs() ? this.opts.onChange() : undefined)),
      onError: (err) => this.opts.onError?.(err),
    });
    void this.follower.start();
  }

  /** The environment for the next start; remembered as the running child's. */
  envForStart(): NodeJS.ProcessEnv {
    const env = this.env();
    this.started = this.key(env);
    return env;
  }

  /** The variables differ from those the running child got. */
  private differs(): boolean {
    return this.key(this.env()) !== this.started;
  }

  private env(): NodeJS.ProcessEnv {
    return buildEnv(this.opts.base, this.opts.sources, this.data);
  }

  private key(env: NodeJS.ProcessEnv): string {
    return JSON.stringify(Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  async stop(): Promise<void> {
    this.ac.abort();
    await this.follower?.stop();
  }
}
