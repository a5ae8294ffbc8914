import { describe, expect, it } from 'vitest';
import { queuesTarget } from '../../src/cli/commands/queues-target.js';

describe('tether queues target', () => {
  it('takes the project from a tenant URL or a /v1 URL, else --project or the global namespace', () => {
    expect(queuesTarget('http://127.0.0.1:8470/v1.0/1234')).toEqual({ root: 'http://127.0.0.1:8470', project: '1234' });
    expect(queuesTarget('http://h:1/mount/v1/JAM%20Project/')).toEqual({ root: 'http://h:1/mount', project: 'JAM Project' });
    expect(queuesTarget('http://h:1/v1')).toEqual({ root: 'http://h:1', project: null });
    expect(queuesTarget('http://h:1', 'p1')).toEqual({ root: 'http://h:1', project: 'p1' });
    expect(queuesTarget('http://h:1/v1.0/t', 'other')).toEqual({ root: 'http://h:1', project: 'other' });
    expect(queuesTarget('http://h:1/v1.0/t', undefined, true)).toEqual({ root: 'http://h:1', project: null });
    expect(() => queuesTarget('not a url')).toThrow(/--url/);
    expect(() => queuesTarget('http://h:1', 'p', true)).toThrow(/--global/);
  });
});
