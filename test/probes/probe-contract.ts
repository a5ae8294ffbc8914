import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Probe } from '../../src/probes/probe.js';

/**
 * The behaviour every Probe implementation must show (STYLE habit 2), run by
 * probe-contract.test.ts against each kind with real targets.
 */
export interface ProbeTargets {
  /** A probe whose target is healthy. */
  healthy: () => Probe;
  /** A probe whose target is unhealthy. */
  failing: () => Probe;
  /** A probe whose target never answers, with a 150 ms timeout; omitted where loopback cannot produce one. */
  hanging?: () => Probe;
}

const BYTES_4K = 4096;

/**
 * `targets` is called inside each test (after the caller's beforeAll started
 * the servers); `canHang` says whether `hanging` is provided.
 */
export function describeProbeContract(name: string, targets: () => ProbeTargets, { canHang }: { canHang: boolean }): void {
  describe(`Probe contract: ${name}`, () => {
    it('resolves ok:true with a short output against a healthy target', async () => {
      const r = await targets().healthy().run(new AbortController().signal);
      expect(r.ok).toBe(true);
      expect(typeof r.output).toBe('string');
      expect(Buffer.byteLength(r.output)).toBeLessThanOrEqual(BYTES_4K);
      expect(r.durationMs).toBeGreaterThanOrEqual(0);
    });

    it('resolves (never rejects) ok:false with a reason against a failing target', async () => {
      const r = await targets().failing().run(new AbortController().signal);
      expect(r.ok).toBe(false);
      expect(r.output).not.toBe('');
      expect(Buffer.byteLength(r.output)).toBeLessThanOrEqual(BYTES_4K);
    });

    it('rejects with the reason at once when the signal is already aborted', async () => {
      const reason = new Error('stopped before');
      await expect(targets().healthy().run(AbortSignal.abort(reason))).rejects.toBe(reason);
    });

    it('leaves no listener on the caller signal', async () => {
      const ac = new AbortController();
      const t = targets();
      await t.healthy().run(ac.signal);
      await t.failing().run(ac.signal);
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    });

    it('runs again after a run (a probe is reusable)', async () => {
      const probe = targets().healthy();
      const signal = new AbortController().signal;
      expect((await probe.run(signal)).ok).toBe(true);
      expect((await probe.run(signal)).ok).toBe(true);
    });

    // Registered only for kinds that can hang (CI runs no skipped tests).
    if (canHang) it('times out into ok:false "timed out after 150ms"', async () => {
      const t0 = performance.now();
      const r = await targets().hanging!().run(new AbortController().signal);
      expect(r).toMatchObject({ ok: false, output: 'timed out after 150ms' });
      expect(performance.now() - t0).toBeLessThan(150 + 1000);
    });

    if (canHang) it('rejects with the reason when the caller aborts mid-run', async () => {
      const ac = new AbortController();
      const reason = new Error('caller stopped');
      const run = targets().hanging!().run(ac.signal);
      setTimeout(() => ac.abort(reason), 30);
      const t0 = performance.now();
      await expect(run).rejects.toBe(reason);
      expect(performance.now() - t0).toBeLessThan(1000);
    });
  });
}
