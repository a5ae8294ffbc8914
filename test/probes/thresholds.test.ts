import { describe, expect, it } from 'vitest';
import { initialThresholds, step, type Health, type Thresholds } from '../../src/probes/thresholds.js';

/** Feeds a string of results ("+" ok, "-" failure) and returns the health after each one. */
function replay(results: string, rise: number, fall: number): { healths: Health[]; last: Thresholds; changes: number } {
  let state = initialThresholds();
  const healths: Health[] = [];
  let changes = 0;
  for (const c of results) {
    const next = step(state, c === '+', { rise, fall });
    if (next.changed) changes++;
    expect(next.changed).toBe(next.state.health !== state.health);
    state = next.state;
    healths.push(state.health);
  }
  return { healths, last: state, changes };
}

const U = 'unknown';
const H = 'healthy';
const D = 'unhealthy';

describe('thresholds.step', () => {
  it('starts unknown with zero counters', () => {
    expect(initialThresholds()).toEqual({ health: 'unknown', successes: 0, failures: 0 });
  });

  it.each<[string, string, number, number, Health[]]>([
    ['rise 1: one success is enough', '+', 1, 3, [H]],
    ['rise 2 from unknown', '++', 2, 3, [U, H]],
    ['from unknown, fall failures make it unhealthy (not one)', '---', 2, 3, [U, U, D]],
    ['fall 1 from unknown', '-', 1, 1, [D]],
    ['a failure resets the success count', '+-++', 2, 3, [U, U, U, H]],
    ['a success resets the failure count', '--+---', 1, 3, [U, U, H, H, H, D]],
    ['healthy survives fall-1 failures', '+--+--', 1, 3, [H, H, H, H, H, H]],
    ['unhealthy needs rise successes to recover', '-++-+++', 3, 1, [D, D, D, D, D, D, H]],
    ['flapping below both thresholds stays put', '+-+-+-', 2, 2, [U, U, U, U, U, U]],
  ])('%s (%s, rise %i, fall %i)', (_name, results, rise, fall, expected) => {
    expect(replay(results, rise, fall).healths).toEqual(expected);
  });

  it('counts consecutive results and reports each change once', () => {
    const { last, changes } = replay('++---+', 2, 3);
    expect(last).toEqual({ health: 'unhealthy', successes: 1, failures: 0 });
    expect(changes).toBe(2); // unknown -> healthy -> unhealthy
  });

  it('is pure: the input state is not changed', () => {
    const state = Object.freeze(initialThresholds());
    const next = step(state, true, { rise: 1, fall: 1 });
    expect(state).toEqual({ health: 'unknown', successes: 0, failures: 0 });
    expect(next).toEqual({ state: { health: 'healthy', successes: 1, failures: 0 }, changed: true });
  });

  it('treats rise/fall below 1 as 1', () => {
    expect(step(initialThresholds(), false, { rise: 0, fall: 0 }).state.health).toBe('unhealthy');
  });
});
