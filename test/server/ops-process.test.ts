import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnTether, startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { sampleValue } from './prom-text.js';

/** The operator's endpoints of a real `tether registry` process: /healthz, /readyz, /metrics, and readiness while draining. */

let tmp: TempDir;
let registry: RegistryProc;

beforeAll(async () => {
  tmp = await createTempDir('ops-process');
  registry = await startRegistry(join(tmp.path, 'data'));
});
afterAll(async () => {
  await registry.stop();
  await tmp.remove();
});

async function json(url: string, method = 'GET', body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
}

const REQUESTS = 'tether_http_request_duration_seconds_count';

describe('tether registry: /healthz and /readyz', () => {
  it('answers 200 ok while alive, and ready while the store answers', async () => {
    const health = await fetch(`${registry.url}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, 'ok\n']);
    expect(await json(`${registry.url}/readyz`)).toEqual({ status: 200, body: { ready: true } });
    // Other methods are not the operator's: the API's own 404 fault.
    expect((await json(`${registry.url}/healthz`, 'POST')).body).toMatchObject({ type: 'notFoundError' });
  });
});

describe('tether registry: /metrics', () => {
  it('counts requests by route template and status, heartbeats, and store operations', async () => {
    const tenant = 'metrics-t1';
    const base = `${registry.url}/v1.0/${tenant}`;
    const created = await json(`${base}/services`, 'POST', { id: 'svc-a', heartbeat_timeout: 30 });
    expect(created.status).toBe(201);
    let token = created.body.token as string;
    for (let i = 0; i < 3; i++) {
      const beat = await json(`${base}/services/svc-a/heartbeat`, 'POST', { token });
      expect(beat.status).toBe(200);
      token = beat.body.token as string;
    }
    expect((await json(`${base}/services/missing-1/heartbeat`, 'POST', { token })).status).toBe(404);
    expect((await json(`${base}/services/missing-2`)).status).toBe(404);
    expect((await json(`${registry.url}/v1.0/${tenant}/no-such-thing`)).status).toBe(404);

    const text = await scrape(registry.url);
    const heartbeat = '/v1.0/{tenant}/services/{id}/heartbeat';
    expect(sampleValue(text, REQUESTS, { route: '/v1.0/{tenant}/services', method: 'POST', status: '201' })).toBe(1);
    expect(sampleValue(text, REQUESTS, { route: heartbeat, method: 'POST', status: '200' })).toBe(3);
    expect(sampleValue(text, REQUESTS, { route: heartbeat, method: 'POST', status: '404' })).toBe(1);
    expect(sampleValue(text, REQUESTS, { route: '/v1.0/{tenant}/services/{id}', method: 'GET', status: '404' })).toBe(1);
    expect(sampleValue(text, REQUESTS, { route: 'unmatched', method: 'GET', status: '404' })).toBe(1);
    expect(sampleValue(text, 'tether_registry_heartbeats_total', { kind: 'service', result: 'ok' })).toBe(3);
    expect(sampleValue(text, 'tether_registry_heartbeats_total', { kind: 'service', result: 'error' })).toBe(1);
    // Latency buckets are cumulative: everything is under +Inf.
    expect(sampleValue(text, 'tether_http_request_duration_seconds_bucket', { route: heartbeat, method: 'POST', status: '200', le: '+Inf' })).toBe(3);
    // Templates only: no tenant, service id or raw path becomes a label value.
    expect(text).not.toContain(tenant);
    expect(text).not.toContain('missing-');
    expect(text).not.toContain('no-such-thing');

    // The service's creation is a transaction; each heartbeat reads its token.
    expect(sampleValue(text, 'tether_store_operation_duration_seconds_count', { op: 'txn' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(text, 'tether_store_errors_total', { op: 'txn' })).toBeUndefined();
  });

  it('reports build info and the standard process metrics under their standard names', async () => {
    const text = await scrape(registry.url);
    expect(sampleValue(text, 'tether_build_info', { version: '0.1.0', node: process.version })).toBe(1);
    expect(sampleValue(text, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(sampleValue(text, 'process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    expect(sampleValue(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(text).not.toContain('tether_process_');
  });

  it('counts the long-polls waiting, and scrapes count themselves', async () => {
    const before = await scrape(registry.url);
    const scrapes = sampleValue(before, REQUESTS, { route: '/metrics', method: 'GET', status: '200' }) ?? 0;
    expect(sampleValue(before, 'tether_long_polls_waiting', { api: 'registry' })).toBe(0);
    // A tenant with no event: the long-poll waits.
    const ctl = new AbortController();
    const polls = [1, 2].map(() => fetch(`${registry.url}/v1.0/metrics-t2/events?wait=30`, { signal: ctl.signal }).catch(() => undefined));
    try {
      await expect.poll(async () => sampleValue(await scrape(registry.url), 'tether_long_polls_waiting', { api: 'registry' }), { timeout: 10_000 }).toBe(2);
    } finally {
      ctl.abort();
      await Promise.all(polls);
    }
    const after = await scrape(registry.url);
    expect(sampleValue(after, REQUESTS, { route: '/metrics', method: 'GET', status: '200' })).toBeGreaterThanOrEqual(scrapes + 2);
    await expect.poll(async () => sampleValue(await scrape(registry.url), 'tether_long_polls_waiting', { api: 'registry' }), { timeout: 10_000 }).toBe(0);
  });
});

describe('tether registry --shutdown-delay: draining', () => {
  it('answers /readyz 503 while it drains, keeps serving, then ends the long-poll with 503 and exits 0', async () => {
    const draining = await startRegistry(join(tmp.path, 'drain'), 0, ['--shutdown-delay', '5s']);
    try {
      expect((await json(`${draining.url}/readyz`)).status).toBe(200);
      const poll = fetch(`${draining.url}/v1.0/drain-t/events?wait=30`).then(async (r) => ({ status: r.status, body: (await r.json()) as unknown }));
      await expect.poll(async () => sampleValue(await scrape(draining.url), 'tether_long_polls_waiting', { api: 'registry' }), { timeout: 10_000 }).toBe(1);

      draining.child.kill('SIGTERM');
      await draining.waitForLog((r) => r.msg === 'shutting down');
      expect(await json(`${draining.url}/readyz`)).toEqual({ status: 503, body: { ready: false, reason: 'draining' } });
      expect((await fetch(`${draining.url}/healthz`)).status).toBe(200);
      // Still serving the API while load balancers move away.
      expect((await json(`${draining.url}/v1.0/drain-t/limits`)).status).toBe(200);

      expect(await poll).toMatchObject({ status: 503, body: { type: 'systemFailureError' } });
      expect(await draining.exited).toEqual({ code: 0, signal: null });
    } finally {
      await draining.stop();
    }
  });

  it('takes 0s for no delay, and rejects a malformed --shutdown-delay with a usage error', async () => {
    const none = await startRegistry(join(tmp.path, 'none'), 0, ['--shutdown-delay', '0s']);
    expect(await none.stop()).toEqual({ code: 0, signal: null });
    const bad = spawnTether(['registry', '--data', join(tmp.path, 'bad'), '--shutdown-delay', 'soon']);
    expect((await bad.exited).code).toBe(2);
    expect(bad.log.join('\n')).toContain('--shutdown-delay');
  });
});
