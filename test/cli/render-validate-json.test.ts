import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { buildCli, removeBuild, startRegistryProcess, tether, type RegistryProcess } from './cli-process.js';

/**
 * `render --once --dry-run` (unified diff against the file on disk, the
 * file's check command run on the rendered bytes) and `--json` of render and
 * validate, as processes against a real `tether registry` process.
 */
let main: string;
let ownBuild = false;
let reg: RegistryProcess;
let http: HttpRegistry;
let dir: string;

vi.setConfig({ testTimeout: 120_000 });

beforeAll(async () => {
  const provided = inject('cliMain') as string | undefined;
  ownBuild = provided === undefined;
  main = provided ?? (await buildCli());
  reg = await startRegistryProcess(main);
  http = new HttpRegistry({ url: reg.url });
  dir = await mkdtemp(join(tmpdir(), 'tether-cli-render-'));
}, 90_000);

afterAll(async () => {
  await http?.close();
  expect(await reg?.stop()).toBe(0);
  if (dir) await rm(dir, { recursive: true, force: true });
  if (main && ownBuild) await removeBuild(main);
});

/** A manifest of two files: app.conf (key, with a check that wants "port=" in it) and fresh.txt (no file yet). */
function manifest(tenant: string): string {
  return `upstream:
  url: ${reg.url}/v1.0/${tenant}
files:
  - path: ${dir}/app.conf
    from: { namespace: /app/ }
    format: env
    check: [sh, -c, 'grep -q "^PORT=" "$TETHER_STAGED_PATH" && echo "syntax ok: $(basename "$TETHER_STAGED_PATH")" || { echo "no PORT in $TETHER_STAGED_PATH" >&2; exit 4; }']
  - path: ${dir}/fresh.txt
    from: { key: /fresh }
    format: raw
`;
}

describe('tether render --once --dry-run', () => {
  it('prints a unified diff per file, runs the check on the rendered bytes, writes nothing', async () => {
    const tenant = 'dry1';
    await http.setConfig(tenant, '/app/port', { value: '8080' });
    await http.setConfig(tenant, '/app/host', { value: 'db.local' });
    await http.setConfig(tenant, '/fresh', { value: 'new file\n' });
    const config = join(dir, 'm1.yaml');
    await writeFile(config, manifest(tenant));
    await writeFile(join(dir, 'app.conf'), "HOST='db.local'\nPORT='80'\n");

    const r = await tether(main, ['render', '--config', config, '--once', '--dry-run']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        `--- ${dir}/app.conf`,
        `+++ ${dir}/app.conf`,
        '@@ -1,2 +1,2 @@',
        " HOST='db.local'",
        "-PORT='80'",
        "+PORT='8080'",
        `check ok (exit status 0): sh -c ${manifestCheck()}`,
        '  syntax ok: app.conf',
        '--- /dev/null',
        `+++ ${dir}/fresh.txt`,
        '@@ -0,0 +1,1 @@',
        '+new file',
        '',
      ].join('\n'),
    );
    // Nothing written.
    expect(await readFile(join(dir, 'app.conf'), 'utf8')).toBe("HOST='db.local'\nPORT='80'\n");
    await expect(readFile(join(dir, 'fresh.txt'), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });

    // JSON: one object per file with the same facts.
    const j = await tether(main, ['render', '--config', config, '--once', '--dry-run', '--json']);
    expect(j.code).toBe(0);
    const files = JSON.parse(j.stdout) as Array<Record<string, unknown>>;
    expect(files).toEqual([
      {
        path: `${dir}/app.conf`,
        outcome: 'would-write',
        change: 'changed',
        diff: expect.stringContaining("-PORT='80'\n+PORT='8080'\n"),
        check: { argv: expect.any(Array), ok: true, result: 'exit status 0', output: 'syntax ok: app.conf\n' },
      },
      { path: `${dir}/fresh.txt`, outcome: 'would-write', change: 'new', diff: expect.stringContaining('+new file'), check: null },
    ]);

    // A real render, then the dry run says unchanged for both.
    const w = await tether(main, ['render', '--config', config, '--once', '--json']);
    expect(JSON.parse(w.stdout)).toEqual([
      { path: `${dir}/app.conf`, outcome: 'written' },
      { path: `${dir}/fresh.txt`, outcome: 'written' },
    ]);
    const again = await tether(main, ['render', '--config', config, '--once', '--dry-run']);
    expect(again.stdout).toMatch(new RegExp(`^unchanged ${dir}/app.conf\\ncheck ok \\(exit status 0\\)`));
    expect(again.stdout).toContain(`unchanged ${dir}/fresh.txt\n`);
  });

  it('exits 1 when the check would refuse the rendered file, and says why', async () => {
    const tenant = 'dry2';
    await http.setConfig(tenant, '/app/host', { value: 'only-host' });
    await http.setConfig(tenant, '/fresh', { value: 'x' });
    const config = join(dir, 'm2.yaml');
    await writeFile(config, manifest(tenant).replaceAll(`${dir}/`, `${dir}/two-`));
    const r = await tether(main, ['render', '--config', config, '--once', '--dry-run']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`+++ ${dir}/two-app.conf\n@@ -0,0 +1,1 @@\n+HOST='only-host'\ncheck FAILED (exit status 4): sh -c`);
    expect(r.stdout).toMatch(/\n {2}no PORT in \/\S+\/two-app\.conf\n/);
    const j = await tether(main, ['render', '--config', config, '--once', '--dry-run', '--json']);
    expect(j.code).toBe(1);
    expect((JSON.parse(j.stdout) as Array<{ check: { ok: boolean; result: string } | null }>)[0]?.check).toMatchObject({ ok: false, result: 'exit status 4' });
  });
});

describe('tether validate --json', () => {
  it('prints ok, files, services and every issue as objects', async () => {
    const good = join(dir, 'good.yaml');
    await writeFile(good, `upstream:\n  url: ${reg.url}/v1.0/v\nservices:\n  - id: svc-one\n  - id: svc-two\n`);
    const ok = await tether(main, ['validate', '--config', good, '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({ ok: true, files: [good], services: 2, issues: [] });

    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, `upstream:\n  url: ${reg.url}/v1.0/v\nservices:\n  - id: x\n  - id: svc-three\n    heartbeat_timeout: 999\n`);
    const r = await tether(main, ['validate', '--config', bad, '--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { ok: boolean; issues: unknown[] };
    expect(doc.ok).toBe(false);
    expect(doc.issues).toEqual([
      { file: bad, line: 4, column: 9, path: 'services[0].id', message: 'must be 3..65 characters of a-z, 0-9, _, - and .' },
      { file: bad, line: 6, column: 24, path: 'services[1].heartbeat_timeout', message: 'must be a whole number of seconds from 3 to 120' },
    ]);
  });
});

/** The check argv as the text line prints it (joined with spaces). */
function manifestCheck(): string {
  return `grep -q "^PORT=" "$TETHER_STAGED_PATH" && echo "syntax ok: $(basename "$TETHER_STAGED_PATH")" || { echo "no PORT in $TETHER_STAGED_PATH" >&2; exit 4; }`;
}
