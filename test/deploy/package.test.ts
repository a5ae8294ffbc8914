import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanCopy, repoRoot, runCommand, userEnv } from '../helpers/clean-copy.js';
import { modulesLoadedBy, packagesIn, SERVER_MODULES } from '../helpers/module-trace.js';
import { cliMain, spawnProc, type Proc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * The package as npm ships it, used outside the checkout: `npm pack` of a
 * clean copy of this tree, installed into an empty directory with
 * `npm install <tarball>` (engines enforced, better-sqlite3 compiled from
 * source, as a user's install does), then used the way the README shows: the
 * `tether` command through npx, the client entry by name, the server entry.
 * The tarball's dist/ is this run's build (test/global-setup.ts runs
 * `npm run build`'s two steps), so packing does not build a third time; the
 * quickstart test (clean-copy.test.ts) runs `prepare` itself.
 */

const INSTALL_TIMEOUT_MS = 15 * 60_000;

interface PackFile {
  path: string;
}

const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { name: string; version: string };
let tmp: TempDir;
let app: string;
let packed: PackFile[];
const procs: Proc[] = [];

beforeAll(async () => {
  tmp = await createTempDir('package');
  const src = join(tmp.path, 'src');
  await cleanCopy(src);
  await cp(dirname(dirname(cliMain())), join(src, 'dist'), { recursive: true });
  const pack = await runCommand('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp.path], src, userEnv());
  const [info] = JSON.parse(pack.stdout) as Array<{ filename: string; files: PackFile[] }>;
  packed = info?.files ?? [];
  app = join(tmp.path, 'app');
  await mkdir(app);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  const tarball = join(tmp.path, info?.filename ?? 'missing.tgz');
  await runCommand('npm', ['install', '--engine-strict', '--prefer-offline', '--no-audit', '--no-fund', tarball], app, userEnv({ npm_config_build_from_source: 'true' }));
}, INSTALL_TIMEOUT_MS);

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  await tmp?.remove();
});

/** `npx ARGS` in the app directory, as a user of the installed package types it. */
function npx(...args: string[]): Promise<{ stdout: string }> {
  return runCommand('npx', args, app, userEnv());
}

describe('the packed package, installed outside the checkout', () => {
  it('is named tether-sidecar, and its tarball holds the build, the schema, the example manifest and the README, no sources or tests', () => {
    expect(pkg.name).toBe('tether-sidecar');
    const paths = packed.map((f) => f.path);
    expect(paths).toEqual(
      expect.arrayContaining(['package.json', 'README.md', 'config.example.yaml', 'schema/tether.schema.json', 'dist/index.js', 'dist/index.d.ts', 'dist/server-entry.js', 'dist/cli/main.js']),
    );
    expect(paths.filter((p) => /^(src|test|bench|spec|scripts|deploy)\//.test(p))).toEqual([]);
  });

  it('runs the `tether` bin through npx, by its command name and by the package name: --version and --help', async () => {
    expect((await npx('tether', '--version')).stdout.trim()).toBe(pkg.version);
    expect((await npx('tether-sidecar', '--version')).stdout.trim()).toBe(pkg.version);
    expect((await npx('tether', '--help')).stdout).toContain('Usage: tether <command>');
  }, 60_000);

  it('imports the client by package name without loading the server, a store or any dependency', async () => {
    const urls = await modulesLoadedBy('tether-sidecar', app);
    const ours = urls.filter((u) => u.includes('/node_modules/tether-sidecar/dist/')).map((u) => u.replace(/^.*\/node_modules\/tether-sidecar\/dist\//, ''));
    expect(ours).toEqual(expect.arrayContaining(['index.js', 'client/client.js']));
    expect(ours.filter((f) => SERVER_MODULES.some((re) => re.test(`/${f}`)))).toEqual([]);
    expect(packagesIn(urls)).toEqual(['tether-sidecar']);
  }, 60_000);

  it('serves a registry from the installed command, and the README library example and client commands work against it', async () => {
    const registry = spawnProc(join(app, 'node_modules', '.bin', 'tether'), ['registry', '--listen', '127.0.0.1:0', '--data', join(app, 'data')], { cwd: app, env: userEnv() });
    procs.push(registry);
    const url = (await registry.waitForLog((r) => typeof r.url === 'string', 20_000)).url as string;

    // The README's library example, as a user's module: it registers, heartbeats, then cleans up.
    const readme = await readFile(join(app, 'node_modules', 'tether-sidecar', 'README.md'), 'utf8');
    const example = (/## Library\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? '').replace('http://127.0.0.1:8470', url).replace('// ... later: ', '');
    expect(example).toContain("from 'tether-sidecar'");
    await writeFile(join(app, 'example.mjs'), example);
    await runCommand(process.execPath, ['example.mjs'], app, userEnv());
    const events = JSON.parse((await npx('tether', 'events', '--json', '--url', `${url}/v1.0/1234`)).stdout) as Array<{ type: string }>;
    expect(events.map((e) => e.type)).toEqual(['service.join', 'service.remove']);

    const base = ['--url', `${url}/v1.0/default`];
    await npx('tether', 'config', 'set', ...base, '/demo/greeting', 'hello');
    expect((await npx('tether', 'config', 'get', ...base, '/demo/greeting')).stdout.trim()).toBe('hello');
    expect(JSON.parse((await npx('tether', 'services', 'list', '--json', ...base)).stdout)).toEqual([]);
    expect(await registry.stop()).toEqual({ code: 0, signal: null });
  }, 60_000);

  it('embeds a registry through tether-sidecar/server, and the client entry talks to it', async () => {
    const script = `
      import { Client } from 'tether-sidecar';
      import { RegistryService, createRegistryServer, openSqliteStore } from 'tether-sidecar/server';
      const store = openSqliteStore({ path: ':memory:' });
      const registry = await RegistryService.open(store);
      const server = createRegistryServer(registry);
      const { url } = await server.listen(0, '127.0.0.1');
      const client = new Client({ url: url + '/v1.0/embedded' });
      await client.services.create({ id: 'inside', heartbeat_timeout: 30, tags: ['x'] });
      console.log(JSON.stringify((await client.services.list()).values.map((s) => s.id)));
      await client.close(); await server.close(); await registry.close(); await store.close();
    `;
    const { stdout } = await runCommand(process.execPath, ['--input-type=module', '-e', script], app, userEnv());
    expect(JSON.parse(stdout)).toEqual(['inside']);
  }, 60_000);
});
