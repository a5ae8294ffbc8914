import { describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../src/observability/metrics.js';
import { ServerMetrics } from '../../src/observability/server-metrics.js';
import { sampleValue } from './prom-text.js';

/** Process metrics keep their standard names in the agent and the server; each registry is its own. */

describe('metric names', () => {
  it('agent and server: process_* and nodejs_* unprefixed, on registries of their own', async () => {
    for (const metrics of [new AgentMetrics(), new ServerMetrics(undefined, { processMetrics: true })]) {
      const text = await metrics.registry.metrics();
      expect(sampleValue(text, 'process_cpu_seconds_total')).toBeGreaterThan(0);
      expect(sampleValue(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
      expect(text).not.toMatch(/^tether_(process|nodejs)_/m);
    }
  });

  it('server: observeRequest buckets by template, method and status; unusual methods share one value', async () => {
    const metrics = new ServerMetrics();
    metrics.observeRequest('/v1/queues/{queue_name}/messages', 'POST', 201, 0.002);
    metrics.observeRequest('/v1/queues/{queue_name}/messages', 'POST', 201, 0.2);
    metrics.observeRequest('/v1/queues/{queue_name}/messages', 'BREW', 404, 0.001);
    const text = (await metrics.scrape()).text;
    const labels = { route: '/v1/queues/{queue_name}/messages', method: 'POST', status: '201' };
    expect(sampleValue(text, 'tether_http_request_duration_seconds_count', labels)).toBe(2);
    expect(sampleValue(text, 'tether_http_request_duration_seconds_bucket', { ...labels, le: '0.0025' })).toBe(1);
    expect(sampleValue(text, 'tether_http_request_duration_seconds_bucket', { ...labels, le: '0.25' })).toBe(2);
    expect(sampleValue(text, 'tether_http_request_duration_seconds_count', { method: 'other', status: '404' })).toBe(1);
    expect(text).not.toContain('BREW');
    // Without processMetrics, nothing of the process (embedded servers share their host's process).
    expect(text).not.toContain('process_cpu');
  });

  it('server: long-polls by API, from the sources registered', async () => {
    const metrics = new ServerMetrics();
    let waiting = 3;
    metrics.countLongPolls('registry', () => waiting);
    metrics.countLongPolls('queues', () => 1);
    expect(sampleValue((await metrics.scrape()).text, 'tether_long_polls_waiting', { api: 'registry' })).toBe(3);
    waiting = 0;
    const text = (await metrics.scrape()).text;
    expect(sampleValue(text, 'tether_long_polls_waiting', { api: 'registry' })).toBe(0);
    expect(sampleValue(text, 'tether_long_polls_waiting', { api: 'queues' })).toBe(1);
  });
});
