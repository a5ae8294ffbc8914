/**
 * What a bench leaves behind (child processes, temp dirs), undone in reverse
 * order whether the bench ends, fails or is interrupted.
 *
 * Each entry has a graceful `close()` and a synchronous `kill()`: `runAll()`
 * uses the first; the process 'exit' hook uses the second for anything still
 * registered (a crash, a second Ctrl-C), so no child or directory outlives us.
 */
export interface Disposable {
  /** A label for error messages. */
  name: string;
  close(): Promise<void>;
  kill(): void;
}

export class Cleanup {
  private readonly items: Disposable[] = [];

  constructor() {
    process.once('exit', () => this.killAll());
  }

  /** Registers `item`; returns a function that closes it now and forgets it. */
  add(item: Disposable): () => Promise<void> {
    this.items.push(item);
    return async () => {
      const i = this.items.indexOf(item);
      if (i < 0) return;
      this.items.splice(i, 1);
      await item.close();
    };
  }

  /** Closes everything, newest first; a failure is reported and does not stop the rest. */
  async runAll(): Promise<void> {
    for (let item = this.items.pop(); item !== undefined; item = this.items.pop()) {
      try {
        await item.close();
      } catch (err) {
        process.stderr.write(`bench: cleanup of ${item.name} failed: ${err instanceof Error ? err.message : String(err)}\n`);
        item.kill();
      }
    }
  }

  private killAll(): void {
    for (let item = this.items.pop(); item !== undefined; item = this.items.pop()) {
      try {
        item.kill();
      } catch {
        // Last resort on exit: nothing more we can do.
      }
    }
  }
}
