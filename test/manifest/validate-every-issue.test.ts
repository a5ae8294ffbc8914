import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/manifest/load.js';
import { spawnTether } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * Issue 18 item 2: schema errors and the rules that need schema-valid data
 * are reported in ONE run, through the real CLI: a service with an unknown
 * key still has its heartbeat_timeout range checked and still counts for
 * duplicate ids across files; a field with a schema error does not also
 * trip the rule above it; a reference to an action with a schema error is
 * not called unknown.
 */

let tmp: TempDir;
beforeAll(async () => {
  tmp = await createTempDir('every-issue');
});
afterAll(async () => {
  await tmp.remove();
});

const A = `upstream:
  url: http://127.0.0.1:1/v1.0/t
  color: blue
services:
  - id: dup-svc
    heartbeat_timeout: 999
    bogus: 1
  - id: web-1
    check:
      http: "not a url"
      rise: 0
actions:
  broken:
    exec: []
files:
  - path: out/one
    from: { key: "bad key with spaces" }
    format: env
    on_change: nope
  - path: out/two
    from: { namespace: /app/ }
    on_change: broken
    on_missing: sometimes
`;

const B = `services:
  - id: dup-svc
    tags: [ok, "${'x'.repeat(60)}"]
    check:
      tcp: 127.0.0.1:\${PORT}
      interval: 5ms
      fall: \${FALL}
  - id: ab
workers:
  - name: w
    queue: jobs
    action: nope-too
`;

describe('tether validate: every issue at once', () => {
  it('reports schema errors and rule issues of several files in one run, each at file:line:column, in file order', async () => {
    const dir = join(tmp.path, 'conf.d');
    await mkdir(dir);
    const a = join(dir, 'a.yaml');
    const b = join(dir, 'b.yaml');
    await writeFile(a, A);
    await writeFile(b, B);
    const expected = [
      `${a}:3:3: upstream.color: unknown key "color"`,
      `${a}:6:24: services[0].heartbeat_timeout: must be a whole number of seconds from 3 to 120`,
      `${a}:7:5: services[0].bogus: unknown key "bogus"`,
      `${a}:10:13: services[1].check.http: must be an http:// or https:// URL`,
      `${a}:11:13: services[1].check.rise: must be at least 1`,
      `${a}:14:11: actions.broken.exec: needs at least the program`,
      `${a}:17:18: files[0].from.key: the registry refuses this key (Invalid value for 'configurationId' query string parameter)`,
      `${a}:18:13: files[0].format: env renders a namespace (one line per key); use raw, json, yaml or a template for one key`,
      `${a}:19:16: files[0].on_change: unknown action "nope" (define it under actions)`,
      `${a}:23:17: files[1].on_missing: must be one of "keep", "delete", "error"`,
      `${b}:2:9: services[0].id: duplicate service id "dup-svc" (first defined at ${a}:5)`,
      `${b}:3:16: services[0].tags[1]: must be at most 55 characters`,
      `${b}:6:17: services[0].check.interval: must be at least 100ms`,
      `${b}:7:13: services[0].check.fall: must be at most 100`,
      `${b}:8:9: services[1].id: must be 3..65 characters of a-z, 0-9, _, - and .`,
      `${b}:12:13: workers[0].action: unknown action "nope-too" (define it under actions)`,
    ];
    const p = spawnTether(['validate', '--config', dir], { PORT: '8080', FALL: '101' });
    expect((await p.exited).code).toBe(1);
    expect(p.stdout().trim().split('\n')).toEqual(expected);
    expect(p.log.join('\n')).toMatch(new RegExp(`${expected.length} issues`));
  });

  it('the same manifest fixed field by field loads, with the ${VAR} numbers typed', async () => {
    const dir = join(tmp.path, 'fixed');
    await mkdir(dir);
    await writeFile(join(dir, 'a.yaml'), 'upstream:\n  url: http://127.0.0.1:1/v1.0/t\nservices:\n  - id: dup-svc\n    heartbeat_timeout: 9\n');
    await writeFile(join(dir, 'b.yaml'), 'services:\n  - id: other\n    check:\n      tcp: 127.0.0.1:${PORT}\n      interval: 500ms\n      fall: ${FALL}\n');
    const { manifest, issues } = await loadManifest(dir, { PORT: '8080', FALL: '7' });
    expect(issues).toEqual([]);
    expect(manifest?.services.map((s) => [s.id, s.check?.fall ?? null])).toEqual([
      ['dup-svc', null],
      ['other', 7],
    ]);
  });
});
