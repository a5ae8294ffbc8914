import { describe, expect, it, vi } from 'vitest';
import { Quiescence, type QuiescenceTimers } from '../../src/materialize/quiescence.js';

/** Timers a test moves by hand (a seam we own): `advance` runs what falls due, in order. */
class FakeTimers implements QuiescenceTimers {
  private t = 0;
  private seq = 0;
  private pending: Array<{ at: number; seq: number; fn: () => void }> = [];

  now(): number {
    return this.t;
  }

  schedule(fn: () => void, ms: number): () => void {
    const entry = { at: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.pending.push(entry);
    return () => {
      this.pending = this.pending.filter((e) => e !== entry);
    };
  }

  /** Armed timers (one per burst is the design). */
  get armed(): number {
    return this.pending.length;
  }

  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = [...this.pending].sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (next === undefined || next.at > end) break;
      this.pending = this.pending.filter((e) => e !== next);
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
}

function fake(minMs: number, maxMs: number) {
  const timers = new FakeTimers();
  const fires: number[] = [];
  const q = new Quiescence({ minMs, maxMs, timers, onFire: () => fires.push(timers.now()) });
  return { timers, fires, q };
}

describe('Quiescence (fake timers)', () => {
  it('fires minMs after the last poke of a burst', () => {
    const { timers, fires, q } = fake(100, 1000);
    q.poke();
    timers.advance(50);
    q.poke();
    timers.advance(70);
    q.poke(); // t = 120
    expect(timers.armed).toBe(1);
    timers.advance(99);
    expect(fires).toEqual([]);
    timers.advance(1);
    expect(fires).toEqual([220]);
    expect(q.pending).toBe(false);
    timers.advance(5000);
    expect(fires).toEqual([220]);
  });

  it('fires at maxMs after the first poke under continuous poking', () => {
    const { timers, fires, q } = fake(100, 1000);
    for (let t = 0; t < 2500; t += 50) {
      q.poke();
      timers.advance(50);
    }
    // Each fire ends a burst; the poke right after it (same instant) starts the next.
    expect(fires).toEqual([1000, 2000]);
    timers.advance(100);
    expect(fires).toEqual([1000, 2000, 2550]); // the last burst ends 100 ms after its last poke (2450)
  });

  it('treats a max below min as min', () => {
    const { timers, fires, q } = fake(100, 10);
    q.poke();
    timers.advance(99);
    expect(fires).toEqual([]);
    timers.advance(1);
    expect(fires).toEqual([100]);
  });

  it('flush() fires a pending burst now; cancel() forgets it', () => {
    const { timers, fires, q } = fake(100, 1000);
    q.flush();
    expect(fires).toEqual([]);
    q.poke();
    timers.advance(10);
    q.flush();
    expect(fires).toEqual([10]);
    expect(timers.armed).toBe(0);
    q.poke();
    q.cancel();
    timers.advance(2000);
    expect(fires).toEqual([10]);
    expect(q.pending).toBe(false);
  });

  it('a poke from onFire starts a new burst', () => {
    const timers = new FakeTimers();
    const fires: number[] = [];
    const q: Quiescence = new Quiescence({
      minMs: 10,
      maxMs: 100,
      timers,
      onFire: () => {
        fires.push(timers.now());
        if (fires.length < 3) q.poke();
      },
    });
    q.poke();
    timers.advance(1000);
    expect(fires).toEqual([10, 20, 30]);
  });

  it('rejects negative waits', () => {
    expect(() => new Quiescence({ minMs: -1, maxMs: 10, onFire: () => {} })).toThrow(RangeError);
    expect(() => new Quiescence({ minMs: 0, maxMs: Number.NaN, onFire: () => {} })).toThrow(RangeError);
  });
});

describe('Quiescence (real timers)', () => {
  const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('100 pokes in 50 ms with min 20 ms / max 1 s fire once, after the calm', async () => {
    const fires: number[] = [];
    const q = new Quiescence({ minMs: 20, maxMs: 1000, onFire: () => fires.push(performance.now()) });
    const start = performance.now();
    let lastPoke = 0;
    for (let i = 0; i < 50; i++) {
      q.poke();
      q.poke();
      lastPoke = performance.now();
      await tick(1);
    }
    await vi.waitFor(() => expect(fires).toHaveLength(1), { timeout: 2000, interval: 5 });
    expect(lastPoke - start).toBeLessThan(1000); // the burst stayed under max
    expect((fires[0] ?? 0) - lastPoke).toBeGreaterThanOrEqual(20);
    await vi.waitFor(() => expect(q.pending).toBe(false));
    expect(fires).toHaveLength(1);
  });

  it('continuous poking fires at max', async () => {
    const fires: number[] = [];
    const q = new Quiescence({ minMs: 50, maxMs: 150, onFire: () => fires.push(performance.now()) });
    const start = performance.now();
    // Poke every ~5 ms until the second fire: calm never lasts 50 ms.
    while (fires.length < 2 && performance.now() - start < 5000) {
      q.poke();
      await tick(5);
    }
    q.cancel();
    expect(fires).toHaveLength(2);
    expect((fires[0] ?? 0) - start).toBeGreaterThanOrEqual(149);
    expect((fires[0] ?? 0) - start).toBeLessThan(1000);
  });

  it('minMs 0 fires once on the next turn for a synchronous burst', async () => {
    let fires = 0;
    const q = new Quiescence({ minMs: 0, maxMs: 0, onFire: () => fires++ });
    for (let i = 0; i < 100; i++) q.poke();
    expect(fires).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect(fires).toBe(1);
    q.poke();
    await expect.poll(() => fires, { timeout: 1000 }).toBe(2);
  });
});
