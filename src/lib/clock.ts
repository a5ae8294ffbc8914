/** Time is injected: production uses the system clock, tests a fake one (a seam we own). */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
