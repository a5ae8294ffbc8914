/**
 * Waiters of the `waitMs` extension, per queue. A waiter arms a ticket
 * BEFORE it reads, so a post that lands between its read and its sleep still
 * wakes it (no lost wake-ups).
 */
export interface Ticket {
  /** Resolves when woken, after `ms`, or on abort, whichever is first (never rejects). */
  wait(ms: number, signal?: AbortSignal): Promise<void>;
  dispose(): void;
}

export class Waiters {
  private readonly byQueue = new Map<string, Set<TicketImpl>>();

  arm(queueId: string): Ticket {
    let set = this.byQueue.get(queueId);
    if (set === undefined) {
      set = new Set();
      this.byQueue.set(queueId, set);
    }
    const t = new TicketImpl(() => {
      set.delete(t);
      if (set.size === 0 && this.byQueue.get(queueId) === set) this.byQueue.delete(queueId);
    });
    set.add(t);
    return t;
  }

  has(queueId: string): boolean {
    return this.byQueue.has(queueId);
  }

  wake(queueId: string): void {
    const set = this.byQueue.get(queueId);
    if (set !== undefined) for (const t of set) t.fire();
  }

  wakeAll(): void {
    for (const set of this.byQueue.values()) for (const t of set) t.fire();
  }
}

class TicketImpl implements Ticket {
  private fired = false;
  private resolve: (() => void) | undefined;

  constructor(private readonly onDispose: () => void) {}

  fire(): void {
    this.fired = true;
    this.resolve?.();
  }

  wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.fired || ms <= 0 || signal?.aborted) {
      this.fired = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.resolve = undefined;
        this.fired = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.resolve = done;
    });
  }

  dispose(): void {
    this.resolve?.();
    this.onDispose();
  }
}
