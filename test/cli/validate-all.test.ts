import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnTether } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/** Issue 18 item 2: `tether validate` reports every issue of a conf.d directory in one run, each at file:line:column. */

let tmp: TempDir;
beforeAll(async () => {
  tmp = await createTempDir('validate-all');
});
afterAll(async () => {
  await tmp.remove();
});

describe('tether validate', () => {
  it('reports range, registry-key, format, duplicate-id-across-files and unknown-action issues at once', async () => {
    const dir = join(tmp.path, 'conf.d');
    await mkdir(dir);
    const a = join(dir, 'a.yaml');
    const b = join(dir, 'b.yaml');
    await writeFile(
      a,
      'upstream:\n  url: http://127.0.0.1:1/v1.0/t\nservices:\n  - id: dup-svc\n    heartbeat_timeout: 999\n' +
        'files:\n  - path: out/one\n    from: { key: "bad key with spaces" }\n    format: env\n    on_change: nope\n',
    );
    await writeFile(b, 'services:\n  - id: dup-svc\n    check: { http: "http://127.0.0.1:1/", interval: 5ms }\n');
    const p = spawnTether(['validate', '--config', dir]);
    expect((await p.exited).code).toBe(1);
    const lines = p.stdout().trim().split('\n').sort();
    expect(lines).toEqual(
      [
        `${a}:5:24: services[0].heartbeat_timeout: must be a whole number of seconds from 3 to 120`,
        `${a}:8:18: files[0].from.key: the registry refuses this key (Invalid value for 'configurationId' query string parameter)`,
        `${a}:9:13: files[0].format: env renders a namespace (one line per key); use raw, json, yaml or a template for one key`,
        `${a}:10:16: files[0].on_change: unknown action "nope" (define it under actions)`,
        `${b}:2:9: services[0].id: duplicate service id "dup-svc" (first defined at ${a}:4)`,
        `${b}:3:53: services[0].check.interval: must be at least 100ms`,
      ].sort(),
    );
    expect(p.log.join('\n')).toMatch(/6 issues/);
  });
});
