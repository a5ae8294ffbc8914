/** Runs async functions one at a time per key (others wait their turn); different keys run freely. */
export class KeyedTurns {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Resolves or rejects as `fn` does, after every earlier `run` of `key` has settled. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(fn, fn);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

/**
 * Lets the event loop run: SQLite reads are synchronous, so a long paged read
 * (stats of a big queue, the expiry sweep) would otherwise hold every other
 * request until it ends.
 */
export function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
