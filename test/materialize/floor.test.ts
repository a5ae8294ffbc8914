import { describe, expect, it } from 'vitest';
import { Floor } from '../../src/materialize/floor.js';

/** The floor rules of a services source (see Floor); end to end in test/sync/floors.test.ts. */

const list = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `s${i}`, tags: [], metadata: {} }));

describe('Floor', () => {
  it('min: holds a list below it, keeping the last good one; before any good list there is nothing to keep', () => {
    const f = new Floor({ min: 2, percent: null, windowMs: 60_000 });
    expect(f.pass(list(1), 0)).toEqual({ list: null, transition: 'held' });
    expect(f.status('services')).toMatchObject({ state: 'held', count: 1, kept: null, reference: null, since: 0 });
    expect(f.pass(list(3), 10)).toEqual({ list: list(3), transition: 'released' });
    expect(f.pass(list(1), 20)).toEqual({ list: list(3), transition: 'held' });
    expect(f.pass(list(0), 30)).toEqual({ list: list(3), transition: null });
    expect(f.status('web')).toMatchObject({ source: 'web', state: 'held', count: 0, kept: 3, since: 20 });
  });

  it('percent: measured against the largest good list of the window, so a wipe in steps is caught', () => {
    const f = new Floor({ min: null, percent: 70, windowMs: 60_000 });
    expect(f.pass(list(10), 0).transition).toBeNull();
    expect(f.pass(list(8), 1).list).toEqual(list(8));
    // 6 is 75 % of 8 but 60 % of 10, the largest of the window: held, the 8 kept.
    expect(f.pass(list(6), 2)).toEqual({ list: list(8), transition: 'held' });
    expect(f.status('services', 2)).toMatchObject({ count: 6, kept: 8, reference: 10 });
    expect(f.pass(list(7), 3)).toEqual({ list: list(7), transition: 'released' });
  });

  it('percent: the window forgets older lists, but the last good list always counts', () => {
    const f = new Floor({ min: null, percent: 50, windowMs: 1000 });
    f.pass(list(10), 0);
    f.pass(list(6), 500);
    expect(f.reference(999)).toBe(10);
    expect(f.reference(1501)).toBe(6);
    expect(f.pass(list(3), 1600).transition).toBeNull(); // 3 of 6 is 50 %
    expect(f.pass(list(1), 5000)).toEqual({ list: list(3), transition: 'held' });
  });

  it("a seed (the previous run's last good size) is the reference until a good list; held, there is no list to render", () => {
    const f = new Floor({ min: null, percent: 50, windowMs: 60_000 });
    f.seed(10);
    expect(f.pass(list(4), 0)).toEqual({ list: null, transition: 'held' });
    expect(f.status('services', 0)).toMatchObject({ kept: 10, reference: 10, count: 4 });
    expect(f.pass(list(5), 1)).toEqual({ list: list(5), transition: 'released' });
    f.seed(100); // too late: this run has its own good list
    expect(f.lastGoodCount).toBe(5);
  });

  it('both: either one holds', () => {
    const f = new Floor({ min: 3, percent: 50, windowMs: 60_000 });
    f.pass(list(4), 0);
    expect(f.meets(2, 1)).toBe(false); // 50 % of 4, but below min
    expect(f.meets(3, 1)).toBe(true);
    f.pass(list(20), 2);
    expect(f.meets(9, 3)).toBe(false); // above min, below 50 % of 20
  });
});
