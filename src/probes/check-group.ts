import type { CheckSpec } from '../manifest/model.js';
import { createProbe, type ProbeResult } from './probe.js';
import { CheckRunner } from './scheduler.js';
import type { Health } from './thresholds.js';
import type { TtlBoard } from './ttl.js';

/** One check of a service, as `/v1/status` shows it. */
export interface CheckState {
  name: string;
  kind: CheckSpec['probe']['kind'];
  health: Health;
  /** The last run's result and when it ended (ms since the epoch), or null before the first run. */
  last: { ok: boolean; output: string; at: number; durationMs: number } | null;
  /** Why the check cannot run at all (its probe could not be built), or null. */
  error: string | null;
}

export interface CheckGroupOptions {
  serviceId: string;
  checks: readonly CheckSpec[];
  ttl: TtlBoard;
  /** After every run of any check. */
  onResult: (check: CheckState, result: ProbeResult, spec: CheckSpec) => void;
  /** When one check's health changes (before the service's, if that changes too). */
  onCheckHealth: (check: CheckState, from: Health) => void;
  /** When the service's health changes: see `combineHealth`. `cause` is the check whose change caused it. */
  onHealth: (from: Health, to: Health, cause: CheckState) => void;
  onError: (err: unknown) => void;
}

/**
 * The service's health from its checks' (Consul's rule: any critical check
 * makes the service critical): unhealthy when any check is, healthy when
 * every one is, unknown otherwise (some have no verdict yet).
 */
export function combineHealth(healths: readonly Health[]): Health {
  if (healths.some((h) => h === 'unhealthy')) return 'unhealthy';
  return healths.every((h) => h === 'healthy') ? 'healthy' : 'unknown';
}

interface Member {
  spec: CheckSpec;
  state: CheckState;
  runner: CheckRunner | null;
}

/**
 * Every check of one service, each on its own CheckRunner (the one loop,
 * with its own interval and rise/fall), and the service's health combined
 * from theirs. A check whose probe cannot be built is unhealthy for good
 * (and so is the service), with the reason in its `error`.
 */
export class CheckGroup {
  private readonly members: Member[];
  private health: Health = 'unknown';

  constructor(private readonly opts: CheckGroupOptions) {
    this.members = opts.checks.map((spec) => this.member(spec));
  }

  /** Starts every check; reports a service made unhealthy by a check that cannot run. Idempotent. */
  start(): void {
    for (const m of this.members) m.runner?.start();
    const broken = this.members.find((m) => m.state.error !== null);
    if (broken) this.recompute(broken.state);
  }

  /** Stops every check; resolves once their in-flight runs have settled. Idempotent. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.members.map((m) => m.runner?.stop()));
  }

  /** Runs the ttl check now (a report arrived); false when there is none. */
  runTtlNow(): boolean {
    const ttl = this.members.find((m) => m.spec.probe.kind === 'ttl');
    ttl?.runner?.runNow();
    return ttl !== undefined;
  }

  get hasTtl(): boolean {
    return this.members.some((m) => m.spec.probe.kind === 'ttl');
  }

  /** Each check's state, in manifest order (copies). */
  states(): CheckState[] {
    return this.members.map((m) => ({ ...m.state }));
  }

  private member(spec: CheckSpec): Member {
    const state: CheckState = { name: spec.name ?? spec.probe.kind, kind: spec.probe.kind, health: 'unknown', last: null, error: null };
    const m: Member = { spec, state, runner: null };
    try {
      const probe = createProbe(spec.probe, { timeoutMs: spec.timeoutMs, ttl: this.opts.ttl, serviceId: this.opts.serviceId });
      m.runner = new CheckRunner({
        serviceId: this.opts.serviceId,
        check: spec,
        probe,
        onResult: (res) => {
          state.last = { ok: res.ok, output: res.output, at: Date.now(), durationMs: res.durationMs };
          this.opts.onResult(state, res, spec);
        },
        onTransition: (from, to) => {
          state.health = to;
          this.opts.onCheckHealth(state, from);
          this.recompute(state);
        },
        onError: this.opts.onError,
      });
    } catch (err) {
      // Validation should have caught it; one bad check must not take the agent down.
      state.health = 'unhealthy';
      state.error = err instanceof Error ? err.message : String(err);
    }
    return m;
  }

  private recompute(cause: CheckState): void {
    const to = combineHealth(this.members.map((m) => m.state.health));
    if (to === this.health) return;
    const from = this.health;
    this.health = to;
    this.opts.onHealth(from, to, cause);
  }
}
