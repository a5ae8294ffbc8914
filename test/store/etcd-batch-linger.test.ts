import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import { GroupCommit, type BatchItem } from '../../src/store/etcd-batch.js';

/**
 * GroupCommit's linger (etcd-batch.ts): heartbeat writes wait, under load,
 * for more to join their batch; nothing else ever waits. The batches are
 * recorded by the `send` GroupCommit is built with (its own seam: this is the
 * scheduler alone; test/registry/etcd-beats-linger.test.ts has real etcd).
 */

interface Item extends BatchItem {
  name: string;
  resolve(): void;
}

const LINGER_MS = 20;

function commit(maxWeight = 128): { gc: GroupCommit<Item>; batches: string[][]; sentAt: number[]; answer(): void } {
  const batches: string[][] = [];
  const sentAt: number[] = [];
  const pending: Array<() => void> = [];
  const gc = new GroupCommit<Item>({
    maxInFlight: 8,
    maxWeight,
    lingerMs: LINGER_MS,
    send: (items) => {
      batches.push(items.map((i) => i.name));
      sentAt.push(performance.now());
      return new Promise<void>((done) =>
        pending.push(() => {
          for (const i of items) i.resolve();
          done();
        }),
      );
    },
  });
  // Answers every batch out (as etcd would), in the order sent.
  const answer = (): void => pending.splice(0).forEach((f) => f());
  return { gc, batches, sentAt, answer };
}

function add(gc: GroupCommit<Item>, name: string, linger: boolean, keys: string[] | null = [name]): Promise<void> {
  return new Promise((resolve, reject) => gc.add({ name, keys, weight: 2, linger, resolve, reject }));
}

/** Waits until `n` batches were sent. */
async function sent(c: ReturnType<typeof commit>, n: number): Promise<void> {
  await vi.waitFor(() => expect(c.batches.length).toBe(n), { timeout: 5_000, interval: 1 });
}

/** Puts the commit under load: a batch of two goes out and is answered. */
async function loaded(c: ReturnType<typeof commit>): Promise<void> {
  const two = [add(c.gc, 'w1', true), add(c.gc, 'w2', true)];
  await nextTurn();
  c.answer();
  await Promise.all(two);
  c.batches.length = 0;
  c.sentAt.length = 0;
}

describe('GroupCommit linger', () => {
  it('a lone heartbeat on an idle commit leaves in the same turn, without waiting', async () => {
    const c = commit();
    const done = add(c.gc, 'h', true);
    await Promise.resolve();
    await Promise.resolve();
    // Sent from a microtask: before any later event-loop turn.
    expect(c.batches).toEqual([['h']]);
    c.answer();
    await done;
  });

  it('under load, heartbeats arriving on successive turns wait lingerMs and leave as one batch', async () => {
    const c = commit();
    await loaded(c);
    const start = performance.now();
    const beats: Promise<void>[] = [];
    for (let i = 0; i < 5; i++) {
      beats.push(add(c.gc, `h${i}`, true));
      await nextTurn();
    }
    expect(c.batches).toEqual([]);
    await sent(c, 1);
    expect(c.batches).toEqual([['h0', 'h1', 'h2', 'h3', 'h4']]);
    // (timers may fire up to a ms early by performance.now())
    expect(c.sentAt[0]! - start).toBeGreaterThanOrEqual(LINGER_MS - 1);
    c.answer();
    await Promise.all(beats);
  });

  it('without the linger mark, the same arrivals leave as they come', async () => {
    const c = commit();
    await loaded(c);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 3; i++) {
      writes.push(add(c.gc, `c${i}`, false));
      await nextTurn();
      c.answer();
    }
    await Promise.all(writes);
    expect(c.batches).toEqual([['c0'], ['c1'], ['c2']]);
  });

  it('a write without the mark ends the wait at once and takes the waiting heartbeats along', async () => {
    const c = commit();
    await loaded(c);
    const all = [add(c.gc, 'h0', true)];
    await nextTurn();
    all.push(add(c.gc, 'h1', true));
    all.push(add(c.gc, 'cfg', false));
    await Promise.resolve();
    await Promise.resolve();
    expect(c.batches).toEqual([['h0', 'h1', 'cfg']]);
    c.answer();
    await Promise.all(all);
  });

  it('heartbeats arriving on every turn wait no longer than lingerMs', async () => {
    // Room for every arrival: a full batch would leave before the bound.
    const c = commit(1_000_000);
    await loaded(c);
    const start = performance.now();
    const beats: Promise<void>[] = [];
    let i = 0;
    while (c.batches.length === 0) {
      beats.push(add(c.gc, `h${i++}`, true));
      await nextTurn();
      expect(performance.now() - start).toBeLessThan(LINGER_MS * 10);
    }
    // Left at the bound, not before.
    expect(c.sentAt[0]! - start).toBeGreaterThanOrEqual(LINGER_MS - 1);
    expect(c.batches[0]!.length).toBeGreaterThan(1);
    c.answer();
    await nextTurn();
    c.answer();
    await Promise.all(beats);
  });

  it('a full batch leaves at once, without waiting for the bound', async () => {
    const c = commit();
    await loaded(c);
    const beats: Promise<void>[] = [];
    for (let i = 0; i < 64; i++) {
      beats.push(add(c.gc, `h${i}`, true));
      if (i % 16 === 15) await nextTurn();
    }
    // 64 of weight 2 fill a batch of 128: it left on the turn that filled it.
    await Promise.resolve();
    expect(c.batches.map((b) => b.length)).toEqual([64]);
    c.answer();
    await Promise.all(beats);
  });

  it('keeps the order rules: a heartbeat on a key out waits for that batch, and writes of one key stay in order', async () => {
    const c = commit();
    await loaded(c);
    const first = add(c.gc, 'a1', true, ['a']);
    await sent(c, 1);
    expect(c.batches).toEqual([['a1']]);
    // Same key while a1 is out: held back; b joins the next batch.
    const second = add(c.gc, 'a2', true, ['a']);
    const other = add(c.gc, 'b1', true, ['b']);
    await nextTurn();
    expect(c.batches).toEqual([['a1']]);
    c.answer();
    await first;
    await sent(c, 2);
    expect(c.batches).toEqual([['a1'], ['a2', 'b1']]);
    c.answer();
    await Promise.all([second, other]);
  });

  it('close() fails waiting heartbeats and sends nothing more', async () => {
    const c = commit();
    await loaded(c);
    const waiting = add(c.gc, 'h', true);
    await Promise.resolve();
    c.gc.close();
    await expect(waiting).rejects.toMatchObject({ code: 'store.closed' });
    await new Promise((r) => setTimeout(r, LINGER_MS * 2));
    expect(c.batches).toEqual([]);
  });
});
