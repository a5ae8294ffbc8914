import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HotHistogram } from '../../src/observability/hot-histogram.js';
import { samples } from './prom-text.js';

/** The hot-path histogram writes what prom-client's Histogram writes for the same observations. */

describe('HotHistogram', () => {
  it('exposes the same samples as a prom-client Histogram', async () => {
    const buckets = [0.001, 0.0025, 0.01, 1, 60];
    const values = [0, 0.0005, 0.001, 0.0011, 0.0025, 0.3, 1, 59.9, 60, 61, 3600];
    const registry = new Registry();
    const prom = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['route', 'status'], buckets, registers: [registry] });
    const hot = new HotHistogram('x_seconds', 'h', ['route', 'status'], buckets);
    const a = hot.seriesOf(['/v1.0/{tenant}/services', '200']);
    const b = hot.seriesOf(['/weird "quoted" \\ route\n', '404']);
    for (const v of values) {
      prom.observe({ route: '/v1.0/{tenant}/services', status: '200' }, v);
      hot.observe(a, v);
    }
    prom.observe({ route: '/weird "quoted" \\ route\n', status: '404' }, 0.002);
    hot.observe(b, 0.002);

    const theirs = samples(await registry.metrics());
    const ours = samples(hot.text());
    expect(ours).toEqual(theirs);
    expect(ours.find((s) => s.name === 'x_seconds_count' && s.labels.status === '200')?.value).toBe(values.length);
    expect(ours.find((s) => s.name === 'x_seconds_bucket' && s.labels.status === '200' && s.labels.le === '0.001')?.value).toBe(3);
    expect(hot.text()).toContain('# TYPE x_seconds histogram');
  });

  it('writes nothing before the first series', () => {
    expect(new HotHistogram('y', 'h', ['op'], [1]).text()).toBe('');
  });
});
