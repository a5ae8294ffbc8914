import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildEnv, envName } from '../../src/exec/env.js';
import { formatIssue } from '../../src/manifest/issues.js';
import { loadManifest } from '../../src/manifest/load.js';
import { SourceData } from '../../src/materialize/data.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/** The manifest's exec section (normalized, every issue at once) and the naming rule of variables. */

let tmp: TempDir;
beforeEach(async () => {
  tmp = await createTempDir('exec-manifest');
});
afterEach(() => tmp.remove());

const HEAD = 'upstream:\n  url: http://127.0.0.1:8470/v1.0/t1\nfiles:\n  - path: app.conf\n    from: { key: /conf/main }\n';

describe('exec section', () => {
  it('normalizes durations, policies (per file by resolved path), env sources and the service', async () => {
    const path = await tmp.write(
      'tether.yaml',
      `${HEAD}exec:\n  command: [web, --port, "8080"]\n  env:\n    - { key: /secrets/dbpass, name: DB_PASSWORD }\n    - { namespace: /app/web/, prefix: WEB_ }\n  on_change: SIGHUP\n  files: { app.conf: restart }\n  kill_timeout: 3s\n  restart: on-failure\n  wait: { min: 200ms, max: 1s }\n  splay: 2s\n  service: { id: web-1, tags: [web] }\n`,
    );
    const { manifest, issues } = await loadManifest(path, {});
    expect(issues).toEqual([]);
    expect(manifest?.exec).toMatchObject({
      command: ['web', '--port', '8080'],
      env: [
        { kind: 'key', key: '/secrets/dbpass', name: 'DB_PASSWORD' },
        { kind: 'namespace', namespace: '/app/web', prefix: 'WEB_' },
      ],
      onChange: { kind: 'signal', signal: 'SIGHUP' },
      files: { [join(tmp.path, 'app.conf')]: { kind: 'restart' } },
      stopSignal: 'SIGTERM',
      killTimeoutMs: 3000,
      restart: 'on-failure',
      waitMinMs: 200,
      waitMaxMs: 1000,
      splayMs: 2000,
      renderTimeoutMs: 30_000,
      service: { id: 'web-1', tags: ['web'] },
    });
  });

  it('reports every issue with file:line:column: a policy for an unknown file, a bad signal, a bad variable name, a duplicate service id', async () => {
    const path = await tmp.write(
      'tether.yaml',
      `${HEAD}services:\n  - id: web-1\nexec:\n  env:\n    - { key: /secrets/dbpass, name: 1BAD }\n  on_change: HUP\n  files: { nope.conf: none }\n  service: { id: web-1 }\n`,
    );
    const { manifest, issues } = await loadManifest(path, {});
    expect(manifest).toBeNull();
    const text = issues.map(formatIssue).join('\n');
    expect(text).toContain('tether.yaml:10:37: exec.env[0].name: must be an environment variable name');
    expect(text).toContain('exec.on_change: must be a signal name like SIGHUP');
    // zod reports structure first; the rules (unknown file, duplicate id) run once the structure is valid.
    const fixed = await tmp.write('fixed.yaml', `${HEAD}services:\n  - id: web-1\nexec:\n  files: { nope.conf: none }\n  service: { id: web-1 }\n`);
    const again = (await loadManifest(fixed, {})).issues.map(formatIssue).join('\n');
    expect(again).toContain(`${join(tmp.path, 'nope.conf')} is not a file of this manifest`);
    expect(again).toContain('duplicate service id "web-1"');
  });
});

describe('environment naming', () => {
  it('upper-cases the key relative to the namespace and turns other characters into _, after the prefix', () => {
    expect(envName('APP_', 'database/host')).toBe('APP_DATABASE_HOST');
    expect(envName('', 'log-level.v2')).toBe('LOG_LEVEL_V2');
  });

  it('builds the environment from held values: base first, later sources win, a missing key sets nothing', () => {
    const sources = [
      { kind: 'namespace', namespace: '/app', prefix: 'APP_' },
      { kind: 'key', key: '/secrets/override', name: 'APP_COLOR' },
      { kind: 'key', key: '/secrets/missing', name: 'MISSING' },
    ] as const;
    const data = new SourceData(sources.map((s) => (s.kind === 'key' ? { kind: 'key', key: s.key } : { kind: 'namespace', namespace: s.namespace })));
    const ev = (id: string, value: string) => ({ id: `e-${id}`, type: 'configuration_value.update', timestamp: 0, payload: { configuration_value_id: id, new_value: value } });
    data.apply([ev('/app/color', 'blue'), ev('/app/size/max', '10'), ev('/secrets/override', 'red')] as never);
    expect(buildEnv({ PATH: '/bin', APP_SIZE_MAX: 'base' }, sources, data)).toEqual({ PATH: '/bin', APP_COLOR: 'red', APP_SIZE_MAX: '10' });
  });
});
