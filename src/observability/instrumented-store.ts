import { performance } from 'node:perf_hooks';
import type { Compare, Entry, Op, RangeOptions, RangeResult, Store, TxnResult, WatchEvent } from '../store/store.js';
import type { ServerMetrics, StoreOp } from './server-metrics.js';

/**
 * A Store that times every call of the one it wraps into `metrics`
 * (latency by operation, failures counted), and otherwise passes everything
 * through unchanged. A compare that fails in `txn` is an answer, not an
 * error. `watch` counts the time to set the watch up, not its lifetime.
 */
export function instrumentStore(store: Store, metrics: ServerMetrics): Store {
  return new InstrumentedStore(store, metrics);
}

class InstrumentedStore implements Store {
  constructor(
    private readonly inner: Store,
    private readonly metrics: ServerMetrics,
  ) {}

  get shared(): boolean {
    return this.inner.shared;
  }

  private async timed<T>(op: StoreOp, call: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      const result = await call();
      this.metrics.observeStore(op, (performance.now() - start) / 1000, true);
      return result;
    } catch (err) {
      this.metrics.observeStore(op, (performance.now() - start) / 1000, false);
      throw err;
    }
  }

  get(key: string): Promise<Entry | undefined> {
    return this.timed('get', () => this.inner.get(key));
  }
  getMany(keys: readonly string[]): Promise<Array<Entry | undefined>> {
    return this.timed('getMany', () => this.inner.getMany(keys));
  }
  range(prefix: string, opts?: RangeOptions): Promise<RangeResult> {
    return this.timed('range', () => this.inner.range(prefix, opts));
  }
  count(prefix: string): Promise<number> {
    return this.timed('count', () => this.inner.count(prefix));
  }
  txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
    return this.timed('txn', () => this.inner.txn(compares, ops));
  }
  grantLease(ttlMs: number): Promise<number> {
    return this.timed('grantLease', () => this.inner.grantLease(ttlMs));
  }
  keepAlive(lease: number): Promise<boolean> {
    return this.timed('keepAlive', () => this.inner.keepAlive(lease));
  }
  revokeLease(lease: number): Promise<void> {
    return this.timed('revokeLease', () => this.inner.revokeLease(lease));
  }
  watch(prefix: string, fromRevision: number, listener: (events: WatchEvent[]) => void, signal: AbortSignal): Promise<void> {
    return this.timed('watch', () => this.inner.watch(prefix, fromRevision, listener, signal));
  }
  revision(): Promise<number> {
    return this.timed('revision', () => this.inner.revision());
  }
  watchedRevision(): Promise<number> {
    return this.timed('watchedRevision', () => this.inner.watchedRevision());
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
