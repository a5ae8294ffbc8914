import { describe, expect, it } from 'vitest';
import { instrumentStore } from '../../src/observability/instrumented-store.js';
import { ServerMetrics } from '../../src/observability/server-metrics.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';
import { describeStoreConformance, type StoreHarness } from '../conformance/store-suite.js';
import { sampleValue } from './prom-text.js';

/** The metrics wrapper is a Store like any other: the whole store suite passes through it, and it counts what passed. */

const WATCH_HISTORY = 64;
const metrics = new ServerMetrics();

async function compact(store: Store): Promise<void> {
  for (let i = 0; i <= WATCH_HISTORY; i++) await store.txn([], [{ type: 'put', key: `/__compact/${i}`, value: 'x' }]);
}

async function openInstrumented(): Promise<StoreHarness> {
  const inner = openSqliteStore({ path: ':memory:', watchHistory: WATCH_HISTORY });
  return { store: instrumentStore(inner, metrics), cleanup: () => inner.close() };
}

describeStoreConformance('instrumented sqlite (:memory:)', openInstrumented, { volatileLeases: true, compact, reopens: false });

describe('instrumented store', () => {
  it('times each call by operation and counts the failed ones', async () => {
    const inner = openSqliteStore({ path: ':memory:' });
    const own = new ServerMetrics();
    const store = instrumentStore(inner, own);
    await store.txn([], [{ type: 'put', key: '/a', value: '1' }]);
    await store.get('/a');
    await store.get('/b');
    await expect(store.txn([], [{ type: 'put', key: '/c', value: '1', lease: 42 }])).rejects.toMatchObject({ code: 'store.lease_not_found' });
    await store.close();
    const text = (await own.scrape()).text;
    expect(sampleValue(text, 'tether_store_operation_duration_seconds_count', { op: 'get' })).toBe(2);
    expect(sampleValue(text, 'tether_store_operation_duration_seconds_count', { op: 'txn' })).toBe(2);
    expect(sampleValue(text, 'tether_store_errors_total', { op: 'txn' })).toBe(1);
    expect(sampleValue(text, 'tether_store_errors_total', { op: 'get' })).toBeUndefined();
    expect(store.shared).toBe(false);
  });

  it('saw the conformance suite go by', async () => {
    const text = (await metrics.scrape()).text;
    expect(sampleValue(text, 'tether_store_operation_duration_seconds_count', { op: 'watch' })).toBeGreaterThan(0);
    expect(sampleValue(text, 'tether_store_operation_duration_seconds_count', { op: 'keepAlive' })).toBeGreaterThan(0);
  });
});
