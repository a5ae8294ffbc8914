import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hasCode } from '../../src/lib/errors.js';
import { formatIssue } from '../../src/manifest/issues.js';
import { loadManifest } from '../../src/manifest/load.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

let tmp: TempDir;
let dir: string;
beforeEach(async () => {
  tmp = await createTempDir('manifest');
  dir = tmp.path;
});
afterEach(async () => {
  await tmp.remove();
});


describe('loadManifest', () => {
  it('normalizes a valid manifest: durations, defaults, env, metadata as strings', async () => {
    const path = await tmp.write(
      'tether.yaml',
      `upstream:
  url: http://127.0.0.1:8470/v1.0/1234
  token: \${TOKEN:-dev}
agent:
  heartbeat: service
services:
  - id: api-\${HOST_ID}
    tags: [api]
    metadata: { port: 8080, version: "\${APP_VERSION:-dev}" }
    heartbeat_timeout: 20s
    check:
      http: { url: "http://127.0.0.1:8080/healthz", expect_status: "200-299,304" }
      interval: 500ms
      rise: 2
  - id: worker
`,
    );
    const { manifest, issues } = await loadManifest(path, { HOST_ID: 'h1' });
    expect(issues).toEqual([]);
    expect(manifest?.upstream?.endpoints).toEqual([{ base: 'http://127.0.0.1:8470', tenant: '1234', url: 'http://127.0.0.1:8470/v1.0/1234' }]);
    expect(manifest?.upstream?.token).toBe('dev');
    expect(manifest?.agent.heartbeat).toBe('service');
    expect(manifest?.agent.listen).toEqual({ host: '127.0.0.1', port: 8471 });
    const [api, worker] = manifest?.services ?? [];
    expect(api).toMatchObject({ id: 'api-h1', metadata: { port: '8080', version: 'dev' }, heartbeatTimeoutSec: 20 });
    expect(api?.check).toMatchObject({ intervalMs: 500, timeoutMs: 2000, rise: 2, fall: 3 });
    expect(api?.check?.probe).toMatchObject({ kind: 'http', method: 'GET', expectStatus: [[200, 299], [304, 304]] });
    expect(worker).toMatchObject({ id: 'worker', check: null, heartbeatTimeoutSec: 15, onUnhealthy: 'deregister' });
    expect(Object.isFrozen(manifest?.services[0]?.tags)).toBe(true);
  });

  it('reports every issue at once with file:line:column and dotted path', async () => {
    const path = await tmp.write(
      'bad.yaml',
      `agent:
  heartbeat: sometimes
services:
  - id: ok-service
    check:
      tcp: 127.0.0.1:5432
      interval: soon
      retries: 3
  - id: x
  - id: \${MISSING_VAR}
`,
    );
    const { manifest, issues } = await loadManifest(path, {});
    expect(manifest).toBeNull();
    const lines = issues.map(formatIssue);
    expect(lines).toContain(`${path}:2:14: agent.heartbeat: must be one of "session", "service"`);
    expect(lines).toContain(`${path}:7:17: services[0].check.interval: must be a duration like 500ms, 10s, 2m or a number of seconds`);
    expect(lines).toContain(`${path}:8:7: services[0].check.retries: unknown key "retries"`);
    expect(lines).toContain(`${path}:9:9: services[1].id: must be 3..65 characters of a-z, 0-9, _, - and .`);
    expect(lines.find((l) => l.startsWith(`${path}:10:9: services[2].id: environment variable MISSING_VAR is not set`))).toBeDefined();
  });

  it('applies rules zod cannot express: one probe kind, timeout range, token xor token_file', async () => {
    const path = await tmp.write(
      'rules.yaml',
      `upstream:
  url: http://127.0.0.1:8470/v1.0/1234
  token: a
  token_file: /run/secret
services:
  - id: two-probes
    heartbeat_timeout: 300
    check: { tcp: "127.0.0.1:1", exec: [/bin/true] }
`,
    );
    const lines = (await loadManifest(path, {})).issues.map(formatIssue);
    expect(lines).toEqual([
      `${path}:4:15: upstream.token_file: give token or token_file, not both`,
      `${path}:7:24: services[0].heartbeat_timeout: must be a whole number of seconds from 3 to 120`,
      `${path}:8:12: services[0].check: needs exactly one of http, tcp, exec, ttl, grpc (found tcp, exec)`,
    ]);
  });

  it('takes only http:// and https:// URLs for HTTP probes and HTTP actions', async () => {
    const path = await tmp.write(
      'schemes.yaml',
      `services:
  - id: ftp-probe
    check: { http: "ftp://127.0.0.1/health" }
  - id: file-probe
    check: { http: { url: "file:///etc/passwd" } }
  - id: fine-probe
    check: { http: "https://[::1]:8443/healthz" }
files:
  - path: /tmp/out.txt
    from: { key: /demo/key }
    on_change: { http: "gopher://127.0.0.1/reload" }
`,
    );
    const lines = (await loadManifest(path, {})).issues.map(formatIssue);
    expect(lines).toEqual([
      `${path}:3:20: services[0].check.http: must be an http:// or https:// URL`,
      `${path}:5:27: services[1].check.http.url: must be an http:// or https:// URL`,
      `${path}:11:24: files[0].on_change.http: must be an http:// or https:// URL`,
    ]);
  });

  it('rejects a URL without /v1.0/{tenant}', async () => {
    const path = await tmp.write('u.yaml', 'upstream:\n  url: http://127.0.0.1:8470/\n');
    const lines = (await loadManifest(path, {})).issues.map(formatIssue);
    expect(lines).toEqual([`${path}:2:8: upstream.url: must be an http(s) URL ending in /v1.0/{tenant}, e.g. http://127.0.0.1:8470/v1.0/1234`]);
  });

  it('takes a list of URLs for one registry behind several servers, all naming the same tenant', async () => {
    const ok = await tmp.write('list.yaml', 'upstream:\n  url:\n    - http://10.0.0.1:8470/v1.0/web\n    - https://10.0.0.2:8470/v1.0/web\n');
    const { manifest } = await loadManifest(ok, {});
    expect(manifest?.upstream?.endpoints.map((e) => [e.base, e.tenant])).toEqual([
      ['http://10.0.0.1:8470', 'web'],
      ['https://10.0.0.2:8470', 'web'],
    ]);
    const bad = await tmp.write('mixed.yaml', 'upstream:\n  url:\n    - http://10.0.0.1:8470/v1.0/web\n    - http://10.0.0.2:8470/v1.0/api\n');
    const lines = (await loadManifest(bad, {})).issues.map(formatIssue);
    expect(lines).toEqual([`${bad}:4:7: upstream.url[1]: names tenant api, but upstream.url[0] names web: every URL must name the same tenant`]);
  });

  it('merges a conf.d directory in name order and rejects duplicate ids across files', async () => {
    await mkdir(join(dir, 'conf.d'));
    await writeFile(join(dir, 'conf.d', '10-base.yaml'), 'upstream:\n  url: http://127.0.0.1:8470/v1.0/7\nservices:\n  - id: alpha\n');
    await writeFile(join(dir, 'conf.d', '20-more.yml'), 'services:\n  - id: beta\n');
    await writeFile(join(dir, 'conf.d', 'notes.txt'), 'ignored');
    const ok = await loadManifest(join(dir, 'conf.d'), {});
    expect(ok.issues).toEqual([]);
    expect(ok.manifest?.services.map((s) => s.id)).toEqual(['alpha', 'beta']);
    expect(ok.manifest?.sourceFiles.map((f) => f.slice(-11))).toEqual(['10-base.yaml'.slice(-11), '20-more.yml'.slice(-11)]);

    await writeFile(join(dir, 'conf.d', '30-dup.yaml'), 'services:\n  - id: alpha\n');
    const dup = await loadManifest(join(dir, 'conf.d'), {});
    expect(dup.manifest).toBeNull();
    expect(dup.issues.map(formatIssue)).toEqual([
      `${join(dir, 'conf.d', '30-dup.yaml')}:2:9: services[0].id: duplicate service id "alpha" (first defined at ${join(dir, 'conf.d', '10-base.yaml')}:4)`,
    ]);
  });

  it('reports YAML syntax errors with their position', async () => {
    const path = await tmp.write('syntax.yaml', 'services:\n  - id: a\n   bad: [\n');
    const { manifest, issues } = await loadManifest(path, {});
    expect(manifest).toBeNull();
    expect(issues.length).toBeGreaterThan(0);
    expect(issues[0]?.file).toBe(path);
    expect(issues[0]?.line).toBeGreaterThanOrEqual(3);
  });

  it('stops at aliases that multiply (a "billion laughs" file) and at an alias cycle, with an issue each', async () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (const [prev, name] of [['a', 'b'], ['b', 'c'], ['c', 'd'], ['d', 'e'], ['e', 'f'], ['f', 'g'], ['g', 'h'], ['h', 'i']]) {
      levels.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(', ')}]`);
    }
    const bomb = await tmp.write('bomb.yaml', `services: []\nx-laughs:\n${levels.map((l) => `  ${l}`).join('\n')}\n`);
    const t = performance.now();
    const big = await loadManifest(bomb, {});
    expect(performance.now() - t).toBeLessThan(5000);
    expect(big.manifest).toBeNull();
    expect(big.issues.map((i) => i.message)).toContain('aliases expand this file to more than 250,000 values');

    const cycle = await tmp.write('cycle.yaml', 'services: &s\n  - id: alpha\n    tags: *s\n');
    const loop = await loadManifest(cycle, {});
    expect(loop.manifest).toBeNull();
    expect(loop.issues).toContainEqual(expect.objectContaining({ path: 'services[0].tags', message: 'an alias refers to a node that contains it' }));
  });

  it('locates an unset variable at its own path, however deep, and keeps `$${...}` literal', async () => {
    const path = await tmp.write(
      'env.yaml',
      `services:
  - id: ok-one
    check: { exec: [sh, -c, "echo $\${HOME}", "\${NOPE_A}"] }
  - id: ok-two
    metadata: { note: "\${NOPE_B}", kept: "$\${LITERAL}" }
`,
    );
    const { manifest, issues } = await loadManifest(path, {});
    expect(manifest).toBeNull();
    expect(issues.map(formatIssue)).toEqual([
      `${path}:3:46: services[0].check.exec[3]: environment variable NOPE_A is not set (use \${NOPE_A:-default} for a default)`,
      `${path}:5:23: services[1].metadata.note: environment variable NOPE_B is not set (use \${NOPE_B:-default} for a default)`,
    ]);
    const fine = await loadManifest(path, { NOPE_A: 'a', NOPE_B: 'b' });
    expect(fine.manifest?.services[0]?.check?.probe).toMatchObject({ argv: ['sh', '-c', 'echo ${HOME}', 'a'] });
    expect(fine.manifest?.services[1]?.metadata).toEqual({ note: 'b', kept: '${LITERAL}' });
  });

  it('reports a key named __proto__ as an unknown key, never as the prototype of the value', async () => {
    const path = await tmp.write('proto.yaml', 'services:\n  - id: proto-svc\n    __proto__: { id: other }\n');
    const { manifest, issues } = await loadManifest(path, {});
    expect(manifest).toBeNull();
    expect(issues.map(formatIssue)).toEqual([`${path}:3:5: services[0].__proto__: unknown key "__proto__"`]);
  });

  it('throws manifest.not_found for a missing path', async () => {
    const err = await loadManifest(join(dir, 'nope.yaml')).catch((e: unknown) => e);
    expect(hasCode(err, 'manifest.not_found')).toBe(true);
    expect((err as Error).message).toMatch(/nope\.yaml: no such file or directory/);
  });

  it('throws manifest.not_found with the reason for a path that cannot be read', async () => {
    const loop = join(dir, 'loop.yaml');
    await symlink(loop, loop);
    const err = await loadManifest(loop).catch((e: unknown) => e);
    expect(hasCode(err, 'manifest.not_found')).toBe(true);
    expect((err as Error).message).toBe(`${loop}: cannot be read (ELOOP)`);
    const under = join(await tmp.write('file.yaml', 'services: []\n'), 'sub.yaml');
    await expect(loadManifest(under)).rejects.toThrow(`${under}: no such file or directory`);
  });
});

describe('config.example.yaml', () => {
  it('is valid and uses every top-level section', async () => {
    const { manifest, issues } = await loadManifest(join(import.meta.dirname, '../../config.example.yaml'), {});
    expect(issues.map(formatIssue)).toEqual([]);
    expect(manifest?.services.length).toBeGreaterThan(0);
    expect(manifest?.files.length).toBeGreaterThan(0);
    expect(manifest?.hooks.length).toBeGreaterThan(0);
    expect(Object.keys(manifest?.actions ?? {})).toContain('announce');
  });
});
