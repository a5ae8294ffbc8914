import type { Claim } from './types.js';

export interface ClaimTerms {
  ttl: number;
  grace: number;
  limit: number;
}

/**
 * A waiting claimer's place in line for messages as this process posts them:
 * the post's own txn writes them already claimed for it, so a waiting
 * consumer gets a message with one commit, not two (post, then claim).
 *
 * States: open (in line) -> pending (in a post's txn) -> filled (the claim
 * committed) or back to open (the txn failed); closed when the claimer leaves.
 */
export class ClaimSlot {
  private state: 'open' | 'pending' | 'filled' | 'closed' = 'open';
  private claim: Claim | null = null;
  private listeners: Array<() => void> = [];

  constructor(
    readonly terms: ClaimTerms,
    private readonly leave: (slot: ClaimSlot) => void,
  ) {}

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Resolves when the slot changes (filled, or its txn failed); never rejects. Race it with a timeout. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.listeners.push(resolve));
  }

  /** Poster: the slot goes into a txn. */
  take(): void {
    this.state = 'pending';
  }

  /** Poster: the txn committed this claim for it. */
  fill(claim: Claim): void {
    this.state = 'filled';
    this.claim = claim;
    this.leave(this);
    this.notify();
  }

  /** Poster: the txn failed; the slot is back in line. */
  reopen(): void {
    if (this.state !== 'pending') return;
    this.state = 'open';
    this.notify();
  }

  /**
   * Claimer: leaves the line. Returns the claim it was handed, if any; waits
   * for a txn it is in, so a claim is never committed and then lost.
   */
  async close(): Promise<Claim | null> {
    while (this.state === 'pending') await this.changed();
    if (this.state === 'filled') return this.claim;
    this.state = 'closed';
    this.leave(this);
    return null;
  }

  private notify(): void {
    const ls = this.listeners;
    this.listeners = [];
    for (const l of ls) l();
  }
}

/** The lines of waiting claimers, per queue, oldest first. */
export class Handoff {
  private readonly byQueue = new Map<string, ClaimSlot[]>();

  open(queueId: string, terms: ClaimTerms): ClaimSlot {
    let line = this.byQueue.get(queueId);
    if (line === undefined) {
      line = [];
      this.byQueue.set(queueId, line);
    }
    const slot = new ClaimSlot(terms, (s) => this.remove(queueId, s));
    line.push(slot);
    return slot;
  }

  /** Takes open slots, oldest first, until they cover `messages` or `maxSlots` are taken. */
  take(queueId: string, messages: number, maxSlots: number): ClaimSlot[] {
    const line = this.byQueue.get(queueId);
    const taken: ClaimSlot[] = [];
    if (line === undefined) return taken;
    for (const slot of line) {
      if (messages <= 0 || taken.length >= maxSlots) break;
      if (!slot.isOpen) continue;
      slot.take();
      taken.push(slot);
      messages -= slot.terms.limit;
    }
    return taken;
  }

  private remove(queueId: string, slot: ClaimSlot): void {
    const line = this.byQueue.get(queueId);
    if (line === undefined) return;
    const at = line.indexOf(slot);
    if (at >= 0) line.splice(at, 1);
    if (line.length === 0) this.byQueue.delete(queueId);
  }
}
