import { describe, expect, it, vi } from 'vitest';
import { hasCode } from '../../src/lib/errors.js';
import { createProbe } from '../../src/probes/probe.js';
import { TtlBoard, type TtlStatus } from '../../src/probes/ttl.js';
import { FakeClock } from '../helpers/fake-clock.js';

const signal = new AbortController().signal;

function setup(ttlMs = 10_000) {
  const clock = new FakeClock(1_700_000_000_000);
  const board = new TtlBoard({ clock });
  const probe = createProbe({ kind: 'ttl', ttlMs }, { timeoutMs: 2000, ttl: board, serviceId: 'worker' });
  return { clock, board, probe };
}

describe('ttl probe', () => {
  it('fails with "no report yet" before any report', async () => {
    expect(await setup().probe.run(signal)).toEqual({ ok: false, output: 'no report yet', durationMs: 0 });
  });

  it('passes while the last pass is younger than the TTL, then expires', async () => {
    const { clock, board, probe } = setup(10_000);
    board.report('worker', 'pass', 'queue drained');
    expect(await probe.run(signal)).toMatchObject({ ok: true, output: 'queue drained' });
    clock.advance(9_999);
    expect((await probe.run(signal)).ok).toBe(true);
    clock.advance(1);
    expect(await probe.run(signal)).toMatchObject({ ok: false, output: 'TTL expired (no report for 10s)' });
    clock.advance(2_345);
    expect(await probe.run(signal)).toMatchObject({ ok: false, output: 'TTL expired (no report for 12.3s)' });
    board.report('worker', 'pass');
    expect(await probe.run(signal)).toMatchObject({ ok: true, output: 'reported passing' });
  });

  it('fails with the note of a fail report, or a default text', async () => {
    const { board, probe } = setup();
    board.report('worker', 'fail', 'disk full');
    expect(await probe.run(signal)).toMatchObject({ ok: false, output: 'disk full' });
    board.report('worker', 'fail');
    expect(await probe.run(signal)).toMatchObject({ ok: false, output: 'reported failing' });
  });

  it('says "expired" rather than repeating a stale fail note', async () => {
    const { clock, board, probe } = setup(1000);
    board.report('worker', 'fail', 'disk full');
    clock.advance(5000);
    expect((await probe.run(signal)).output).toBe('TTL expired (no report for 5s)');
  });

  it('takes an explicit report time', async () => {
    const { clock, board, probe } = setup(10_000);
    board.report('worker', 'pass', undefined, clock.now() - 20_000);
    expect(await probe.run(signal)).toMatchObject({ ok: false, output: 'TTL expired (no report for 20s)' });
  });

  it('keeps reports per service', async () => {
    const { board, probe } = setup();
    board.report('other', 'pass');
    expect((await probe.run(signal)).output).toBe('no report yet');
    expect(board.get('other')).toMatchObject({ status: 'pass', note: null });
    expect(board.delete('other')).toBe(true);
    expect(board.get('other')).toBeUndefined();
  });

  it('rejects with the reason when the signal is aborted', async () => {
    const reason = new Error('stop');
    await expect(setup().probe.run(AbortSignal.abort(reason))).rejects.toBe(reason);
  });

  it('caps a note at 4 KiB', () => {
    const { board } = setup();
    expect(Buffer.byteLength(board.report('worker', 'fail', 'é'.repeat(5000)).note ?? '')).toBeLessThanOrEqual(4096);
  });

  it('refuses a status other than pass/fail', () => {
    let caught: unknown;
    try {
      setup().board.report('worker', 'warn' as TtlStatus);
    } catch (err) {
      caught = err;
    }
    expect(hasCode(caught, 'probe.invalid')).toBe(true);
  });

  it('needs a board: createProbe throws probe.invalid without one', () => {
    let caught: unknown;
    try {
      createProbe({ kind: 'ttl', ttlMs: 1000 }, { timeoutMs: 2000, serviceId: 'worker' });
    } catch (err) {
      caught = err;
    }
    expect(hasCode(caught, 'probe.invalid')).toBe(true);
  });
});

describe('TtlBoard.onReport', () => {
  it('tells listeners of each report until unsubscribed; a throwing listener does not stop the report', () => {
    const onError = vi.fn();
    const board = new TtlBoard({ clock: new FakeClock(5), onError });
    const seen: string[] = [];
    board.onReport(() => {
      throw new Error('listener broke');
    });
    const off = board.onReport((id, r) => seen.push(`${id}:${r.status}@${r.at}`));
    board.report('a', 'pass');
    off();
    board.report('a', 'fail');
    expect(seen).toEqual(['a:pass@5']);
    expect(board.get('a')?.status).toBe('fail');
    expect(onError).toHaveBeenCalledTimes(2);
  });
});

describe('ttl probe timing', () => {
  it('fails at once and says when the last pass expires', () => {
    const { clock, board, probe } = setup(3000);
    expect(probe.failsAtOnce).toBe(true);
    expect(probe.nextChangeInMs?.()).toBeUndefined();
    board.report('worker', 'pass');
    clock.advance(1000);
    expect(probe.nextChangeInMs?.()).toBe(2000);
    clock.advance(2000);
    expect(probe.nextChangeInMs?.()).toBeUndefined();
    board.report('worker', 'fail');
    expect(probe.nextChangeInMs?.()).toBeUndefined();
  });
});
