import { describe, expect, it, vi } from 'vitest';
import { MAX_SLACK_MS, Wakeups } from '../../src/probes/wakeups.js';

/** Records when each named call ran, in ms since `t0`. */
function recorder(): { at: Map<string, number>; call: (name: string) => () => void } {
  const t0 = performance.now();
  const at = new Map<string, number>();
  return { at, call: (name) => () => void at.set(name, performance.now() - t0) };
}

describe('Wakeups: one timer for many probe loops', () => {
  it('calls each function at its time, never before its slack allows', async () => {
    const w = new Wakeups();
    const { at, call } = recorder();
    w.after(30, 0, call('a'));
    w.after(80, 0, call('b'));
    w.after(10, 0, call('c'));
    await vi.waitFor(() => expect(at.size).toBe(3), { timeout: 2000, interval: 5 });
    expect([...at.keys()]).toEqual(['c', 'a', 'b']);
    expect(at.get('c')).toBeGreaterThanOrEqual(10 - 1);
    expect(at.get('a')).toBeGreaterThanOrEqual(30 - 1);
    expect(at.get('b')).toBeGreaterThanOrEqual(80 - 1);
    expect(w.size).toBe(0);
  });

  it('runs a call early, within its slack, when it wakes up for another one', async () => {
    const w = new Wakeups();
    const { at, call } = recorder();
    w.after(50, 0, call('first'));
    w.after(120, 100, call('joins')); // may run from 20 ms: joins the wakeup at 50
    w.after(400, 100, call('alone')); // may run from 300 ms: too late to join
    await vi.waitFor(() => expect(at.size).toBe(3), { timeout: 2000, interval: 5 });
    expect(Math.abs((at.get('joins') as number) - (at.get('first') as number))).toBeLessThan(5);
    expect(at.get('joins')).toBeLessThan(120 - 30);
    expect(at.get('alone')).toBeGreaterThanOrEqual(300 - 1);
  });

  it('caps the slack at MAX_SLACK_MS', async () => {
    const w = new Wakeups();
    const { at, call } = recorder();
    w.after(10, 0, call('first'));
    w.after(MAX_SLACK_MS + 200, 10 * MAX_SLACK_MS, call('capped')); // may run from 200 ms, not at once
    await vi.waitFor(() => expect(at.size).toBe(1), { timeout: 1000, interval: 5 });
    await vi.waitFor(() => expect(at.size).toBe(2), { timeout: MAX_SLACK_MS + 1000, interval: 5 });
    expect(at.get('capped')).toBeGreaterThanOrEqual(200 - 1);
  });

  it('does not call a cancelled function; cancel is idempotent and re-arms for the rest', async () => {
    const w = new Wakeups();
    const { at, call } = recorder();
    const a = w.after(20, 0, call('a'));
    w.after(60, 0, call('b'));
    a.cancel();
    a.cancel();
    expect(w.size).toBe(1);
    await vi.waitFor(() => expect(at.has('b')).toBe(true), { timeout: 1000, interval: 5 });
    await expect.poll(() => at.has('a'), { timeout: 100, interval: 20 }).toBe(false);
  });

  it('lets a called function schedule again, and an earlier new call moves the timer up', async () => {
    const w = new Wakeups();
    const { at, call } = recorder();
    w.after(500, 0, call('late'));
    w.after(20, 0, () => {
      call('tick')();
      w.after(20, 0, call('again'));
    });
    await vi.waitFor(() => expect(at.has('again')).toBe(true), { timeout: 400, interval: 5 });
    expect(at.has('late')).toBe(false);
    await vi.waitFor(() => expect(at.has('late')).toBe(true), { timeout: 1500, interval: 10 });
  });
});
