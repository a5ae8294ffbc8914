/**
 * In-memory index of heartbeat deadlines, per tenant, so that the expiry pass
 * that runs before most reads costs a heap peek instead of a scan.
 *
 * Entries are hints: the store is the truth. `popDue` hands back ids whose
 * latest known deadline has passed; the caller re-reads them and pushes back
 * those that turn out to be alive. A heartbeat only moves a Map entry (the
 * heap keeps one entry per id and re-queues it lazily when popped early).
 */
export type DeadlineKind = 'svc' | 'ses';

interface HeapItem {
  deadline: number;
  key: string;
}

class TenantDeadlines {
  readonly latest = new Map<string, number>();
  private readonly heap: HeapItem[] = [];

  set(key: string, deadline: number): void {
    const known = this.latest.get(key);
    this.latest.set(key, deadline);
    // A later deadline for a queued key needs no heap work: popping re-queues it.
    if (known === undefined || deadline < known) this.push({ deadline, key });
  }

  delete(key: string): void {
    this.latest.delete(key);
  }

  has(key: string): boolean {
    return this.latest.has(key);
  }

  /** The earliest deadline in the heap (may be stale-early), or Infinity. */
  peek(): number {
    return this.heap[0]?.deadline ?? Infinity;
  }

  popDue(cutoff: number): Array<{ key: string; deadline: number }> {
    const due: Array<{ key: string; deadline: number }> = [];
    while (this.heap.length > 0 && (this.heap[0] as HeapItem).deadline < cutoff) {
      const item = this.pop();
      const current = this.latest.get(item.key);
      if (current === undefined) continue;
      if (current >= cutoff) {
        // Popped early (a heartbeat moved it): re-queue at the deadline we know now.
        this.push({ deadline: current, key: item.key });
        continue;
      }
      this.latest.delete(item.key);
      due.push({ key: item.key, deadline: current });
    }
    return due.sort((a, b) => a.deadline - b.deadline);
  }

  private push(item: HeapItem): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as HeapItem).deadline <= item.deadline) break;
      h[i] = h[parent] as HeapItem;
      i = parent;
    }
    h[i] = item;
  }

  private pop(): HeapItem {
    const h = this.heap;
    const top = h[0] as HeapItem;
    const last = h.pop() as HeapItem;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && (h[r] as HeapItem).deadline < (h[l] as HeapItem).deadline ? r : l;
        if ((h[c] as HeapItem).deadline >= last.deadline) break;
        h[i] = h[c] as HeapItem;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

export class DeadlineIndex {
  private readonly tenants = new Map<string, TenantDeadlines>();

  set(tenant: string, kind: DeadlineKind, id: string, deadline: number): void {
    let t = this.tenants.get(tenant);
    if (!t) this.tenants.set(tenant, (t = new TenantDeadlines()));
    t.set(`${kind}:${id}`, deadline);
  }

  /** Sets a deadline only when none is known for it (a record seen on the store's change stream). */
  hint(tenant: string, kind: DeadlineKind, id: string, deadline: number): void {
    const key = `${kind}:${id}`;
    if (this.tenants.get(tenant)?.has(key) !== true) this.set(tenant, kind, id, deadline);
  }

  delete(tenant: string, kind: DeadlineKind, id: string): void {
    this.tenants.get(tenant)?.delete(`${kind}:${id}`);
  }

  /** True when some deadline of the tenant may be earlier than `cutoff`. */
  anyDue(tenant: string, cutoff: number): boolean {
    const t = this.tenants.get(tenant);
    return t !== undefined && t.peek() < cutoff;
  }

  /** Removes and returns the entries whose latest deadline is before `cutoff`, earliest first. */
  popDue(tenant: string, cutoff: number): Array<{ kind: DeadlineKind; id: string; deadline: number }> {
    const t = this.tenants.get(tenant);
    if (!t) return [];
    return t.popDue(cutoff).map(({ key, deadline }) => {
      const sep = key.indexOf(':');
      return { kind: key.slice(0, sep) as DeadlineKind, id: key.slice(sep + 1), deadline };
    });
  }

  tenantIds(): string[] {
    return [...this.tenants.keys()];
  }
}
