/**
 * The rise/fall state machine, pure and written once for every probe kind.
 *
 * - `healthy` after `rise` consecutive successes, `unhealthy` after `fall`
 *   consecutive failures; a result resets the opposite counter.
 * - From `unknown` (no verdict yet) it also takes `fall` failures to become
 *   `unhealthy`, as a Kubernetes probe worker does: a service that is still
 *   starting gets `fall` intervals before it is declared unhealthy (and, with
 *   on_unhealthy: deregister, removed). The agent treats `unknown` as not
 *   healthy, so it is never advertised before `rise` successes either.
 */

export type Health = 'unknown' | 'healthy' | 'unhealthy';

export interface Thresholds {
  health: Health;
  /** Consecutive successes so far (0 after a failure). */
  successes: number;
  /** Consecutive failures so far (0 after a success). */
  failures: number;
}

export interface RiseFall {
  /** Consecutive successes to become healthy (at least 1). */
  rise: number;
  /** Consecutive failures to become unhealthy (at least 1). */
  fall: number;
}

/** No results yet: health unknown, both counters 0. */
export function initialThresholds(): Thresholds {
  return { health: 'unknown', successes: 0, failures: 0 };
}

/**
 * Applies one result. Returns the new state (the input is not changed) and
 * whether `health` changed. `rise`/`fall` below 1 count as 1.
 */
export function step(state: Thresholds, ok: boolean, { rise, fall }: RiseFall): { state: Thresholds; changed: boolean } {
  const successes = ok ? state.successes + 1 : 0;
  const failures = ok ? 0 : state.failures + 1;
  let health = state.health;
  if (ok && successes >= Math.max(1, rise)) health = 'healthy';
  if (!ok && failures >= Math.max(1, fall)) health = 'unhealthy';
  return { state: { health, successes, failures }, changed: health !== state.health };
}
