import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/manifest/issues.js';
import { loadManifest } from '../../src/manifest/load.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * Issue 18 item 2, the registry's own key rule beyond files' `from.key` (review R18): a key exec.env reads and
 * a namespace no key fits under are reported at their line:column, as they could never be read; keys and
 * namespaces the registry takes are not, nor a tag with a space (a service may carry one; the list is filtered
 * by the agent, not by the registry's ?tag= rule).
 */

let tmp: TempDir;
beforeEach(async () => {
  tmp = await createTempDir('manifest-registry-rules');
});
afterEach(async () => {
  await tmp.remove();
});

describe('validate: the registry key rule for exec.env and namespaces', () => {
  it('reports what the registry would refuse, each at its line:column, and accepts what it takes', async () => {
    const path = await tmp.write(
      'tether.yaml',
      [
        'upstream: { url: "http://127.0.0.1:9/v1.0/t1" }',
        'exec:',
        '  command: [sleep, "1"]',
        '  env:',
        '    - { key: /ab/level, name: LEVEL }',
        '    - { namespace: /a.b/, prefix: APP_ }',
        '    - { key: /app/settings/level, name: OK_LEVEL }',
        '    - { namespace: /app/settings/, prefix: OK_ }',
        'files:',
        '  - path: ./x.json',
        '    from: { namespace: /x/ }',
        '  - path: ./y.json',
        '    from: { services: { tag: "web tier" } }',
        '  - path: ./z.txt',
        '    template: ./z.liquid',
        '    from:',
        '      api: { services: { tag: api } }',
        '      tuning: { namespace: /Production/nginx/ }',
        '      all: { namespace: / }',
        '',
      ].join('\n'),
    );
    await tmp.write('z.liquid', '{{ api | size }}');
    const { issues } = await loadManifest(path, {});
    expect(issues.map((i) => formatIssue(i).replace(`${path}:`, ''))).toEqual([
      "5:14: exec.env[0].key: the registry refuses this key (Invalid value for 'configurationId' query string parameter)",
      "6:20: exec.env[1].namespace: the registry refuses every key under this namespace (Invalid value for 'configurationId' query string parameter)",
      "11:24: files[0].from.namespace: the registry refuses every key under this namespace (Invalid value for 'configurationId' query string parameter)",
    ]);
  });
});
