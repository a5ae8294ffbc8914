import { performance } from 'node:perf_hooks';
import type { Compare, Entry, Op, RangeOptions, RangeResult, Store, TxnOptions, TxnResult, WatchEvent } from '../store/store.js';
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

  get maxTxnOps(): number | undefined {
    return this.inner.maxTxnOps;
  }

  get shared(): boolean {
    return this.inner.shared;
  }

  /** `result` of `op` begun at `started` (performance.now()), timed and passed on as it is. */
  private timed<T>(op: StoreOp, started: number, result: Promise<T>): Promise<T> {
    return result.then(
      (value) => {
        this.metrics.observeStore(op, (performance.now() - started) / 1000, true);
        return value;
      },
      (err: unknown) => {
        this.metrics.observeStore(op, (performance.now() - started) / 1000, false);
        throw err;
      },
    );
  }

  get(key: string): Promise<Entry | undefined> {
    return this.timed('get', performance.now(), this.inner.get(key));
  }
  getMany(keys: readonly string[]): Promise<Array<Entry | undefined>> {
    return this.timed('getMany', performance.now(), this.inner.getMany(keys));
  }
  range(prefix: string, opts?: RangeOptions): Promise<RangeResult> {
    return this.timed('range', performance.now(), this.inner.range(prefix, opts));
  }
  count(prefix: string): Promise<number> {
    return this.timed('count', performance.now(), this.inner.count(prefix));
  }
  txn(compares: Compare[], ops: Op[], opts?: TxnOptions): Promise<TxnResult> {
    return this.timed('txn', performance.now(), this.inner.txn(compares, ops, opts));
  }
  grantLease(ttlMs: number): Promise<number> {
    return this.timed('grantLease', performance.now(), this.inner.grantLease(ttlMs));
  }
  keepAlive(lease: number): Promise<boolean> {
    return this.timed('keepAlive', performance.now(), this.inner.keepAlive(lease));
  }
  revokeLease(lease: number): Promise<void> {
    return this.timed('revokeLease', performance.now(), this.inner.revokeLease(lease));
  }
  watch(prefix: string, fromRevision: number, listener: (events: WatchEvent[]) => void, signal: AbortSignal): Promise<void> {
    return this.timed('watch', performance.now(), this.inner.watch(prefix, fromRevision, listener, signal));
  }
  revision(): Promise<number> {
    return this.timed('revision', performance.now(), this.inner.revision());
  }
  watchedRevision(): Promise<number> {
    return this.timed('watchedRevision', performance.now(), this.inner.watchedRevision());
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
