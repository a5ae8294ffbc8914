import { afterEach, describe, expect, it } from 'vitest';
import { StallClock } from '../../src/lib/stall-clock.js';

/** The stall detector behind stall-safe deadlines (issue 19 item 4), on a real blocked event loop. */

function blockLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // a real stall: nothing else of this process runs
  }
}

const clocks: StallClock[] = [];
afterEach(() => {
  for (const c of clocks.splice(0)) c.stop();
});

function started(thresholdMs = 200): StallClock {
  const c = new StallClock({ tickMs: 50, thresholdMs }).start();
  clocks.push(c);
  return c;
}

describe('StallClock', () => {
  it('notices a blocked loop as a stall of about its length, and credits deadlines set before it only', async () => {
    const c = started();
    await new Promise((r) => setTimeout(r, 120));
    const before = Date.now();
    const runningBefore = c.runningNow();
    blockLoop(800);
    c.observe();
    const after = Date.now();
    expect(c.recent()).toHaveLength(1);
    const stall = c.recent()[0] as { ms: number; endedAt: number };
    expect(stall.ms).toBeGreaterThan(700);
    expect(stall.ms).toBeLessThan(1500);
    // A deadline last set before the stall gets the stall added; one set after it gets nothing.
    expect(c.creditSince(before - 1000)).toBe(stall.ms);
    expect(c.creditSince(after + 1)).toBe(0);
    // The running clock did not advance through the stall.
    expect(c.runningNow() - runningBefore).toBeLessThan(200);
  });

  it('ordinary lateness below the threshold is no stall', async () => {
    // A generous threshold: on a loaded machine the tick itself may come late.
    const c = started(1000);
    await new Promise((r) => setTimeout(r, 120));
    blockLoop(150);
    c.observe();
    expect(c.recent()).toHaveLength(0);
    expect(c.creditSince(0)).toBe(0);
  });

  it('a stopped clock records nothing', () => {
    const c = new StallClock({ tickMs: 50, thresholdMs: 200 });
    blockLoop(400);
    c.observe();
    expect(c.recent()).toHaveLength(0);
  });
});
