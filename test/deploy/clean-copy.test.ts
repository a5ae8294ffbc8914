import { chmod, chown, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanCopy, killCommands, packAndInstall, repoRoot, runCommand, userEnv, type InstalledPackage } from '../helpers/clean-copy.js';
import { buildContext, buildImage, imageCommand, parseDockerfile, type BuiltImage } from '../helpers/dockerfile.js';
import { modulesLoadedBy, packagesIn, SERVER_MODULES } from '../helpers/module-trace.js';
import { cliMain, spawnProc, type Proc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * The three ways a newcomer gets Tether running, each from a clean copy of
 * this working tree (tracked plus untracked-not-ignored files: no
 * node_modules, no dist): the README quickstart (`npm install && npm start`),
 * the Dockerfile (its COPY and RUN steps, run by test/helpers/dockerfile.ts),
 * and the package as npm ships it (`npm pack`, installed outside the
 * checkout). better-sqlite3 compiles from source in each, so the three
 * installs run side by side in beforeAll (a compile is one core's work; vitest
 * runs one test file at a time on a 2-core machine).
 */

// Three compiles share two cores; a machine busy with other work can take several times longer.
const INSTALL_TIMEOUT_MS = 25 * 60_000;
const buildEnv = { npm_config_build_from_source: 'true' };

let tmp: TempDir;
let checkout: string;
let image: BuiltImage;
let installed: InstalledPackage;
const procs: Array<{ proc: Proc; group: boolean }> = [];

beforeAll(async () => {
  tmp = await createTempDir('clean-copy');
  // mkdtemp makes it 0700; the image's non-root user must be able to reach the image and its volumes.
  await chmod(tmp.path, 0o755);
  checkout = join(tmp.path, 'checkout');
  await cleanCopy(checkout);
  const context = join(tmp.path, 'context');
  await buildContext(checkout, context);
  const dockerfile = parseDockerfile(await readFile(join(checkout, 'Dockerfile'), 'utf8'));
  const packWork = join(tmp.path, 'package');
  await mkdir(packWork);
  [, image, installed] = await Promise.all([
    runCommand('npm', ['install', '--no-audit', '--no-fund'], checkout, userEnv(buildEnv)),
    buildImage(dockerfile, context, join(tmp.path, 'image')),
    // This run's build (test/global-setup.ts runs `npm run build`'s steps): the quickstart runs `prepare` itself.
    packAndInstall(packWork, dirname(dirname(cliMain()))),
  ]);
}, INSTALL_TIMEOUT_MS);

afterAll(async () => {
  killCommands(); // installs still running when beforeAll timed out
  for (const { proc, group } of procs) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) continue;
    if (group) process.kill(-(proc.child.pid as number), 'SIGKILL');
    else proc.child.kill('SIGKILL');
  }
  await Promise.all(procs.map((p) => p.proc.exited));
  await tmp?.remove();
});

/**
 * Remembers `proc` so afterAll can kill it if a test fails half-way; `group`:
 * it leads its own process group (npm start), and the whole group goes.
 */
function track(proc: Proc, group = false): Proc {
  procs.push({ proc, group });
  return proc;
}

async function serviceIds(registryUrl: string, tenant: string): Promise<string[]> {
  const res = await fetch(`${registryUrl}/v1.0/${tenant}/services`);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { values: Array<{ id: string }> };
  return body.values.map((s) => s.id).sort();
}

/** Checks a port is free before a test that needs that exact port. */
async function expectPortFree(port: number): Promise<void> {
  const srv = createServer();
  const err = await new Promise<Error | null>((resolve) => {
    srv.once('error', resolve);
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(null)));
  });
  expect(err, `port ${port} is needed by this test and is in use`).toBeNull();
}

describe('README quickstart: npm install && npm start', () => {
  it('registers the demo services, materializes a value, follows a change, and exits 0 on Ctrl-C after deregistering', async () => {
    await expectPortFree(8470);
    await expectPortFree(8471);
    // Ctrl-C signals the terminal's whole foreground group: npm and the agent.
    // JSON lines to wait on: `tether dev` writes pretty lines unless told otherwise.
    const start = track(spawnProc('npm', ['start'], { cwd: checkout, env: userEnv({ TETHER_LOG_FORMAT: 'json' }), detached: true }), true);
    await start.waitForLog((r) => typeof r.msg === 'string' && r.msg.startsWith('try: npx tether config set /demo/greeting'), 60_000);
    const hints = start.log.filter((l) => l.includes('"msg":"try: '));
    expect(hints.join('\n')).toContain('npx tether services list');

    const greeting = join(checkout, 'demo', 'greeting.txt');
    await expect.poll(() => readFile(greeting, 'utf8').catch(() => ''), { timeout: 10_000 }).toBe('Hello from Tether');

    const npx = (...args: string[]): Promise<{ stdout: string }> => runCommand('npx', ['tether', ...args], checkout, userEnv());
    await expect
      .poll(async () => (JSON.parse((await npx('services', 'list', '--json')).stdout) as Array<{ id: string }>).map((s) => s.id), {
        timeout: 15_000,
        interval: 500,
      })
      .toEqual(expect.arrayContaining(['demo-agent-api', 'demo-exec', 'demo-registry-local', 'demo-static']));
    await expect.poll(() => readFile(join(checkout, 'demo', 'services.json'), 'utf8').catch(() => ''), { timeout: 10_000 }).toContain('"demo-registry-local"');

    await npx('config', 'set', '/demo/greeting', 'hello');
    await expect.poll(() => readFile(greeting, 'utf8'), { timeout: 5000 }).toBe('hello');

    process.kill(-(start.child.pid as number), 'SIGINT');
    expect(await start.exited).toEqual({ code: 0, signal: null });
    expect(start.log.join('\n')).toContain('"msg":"agent stopped"');

    // A restarted registry keeps live services for a grace period, so an empty
    // list shows the agent deleted them (and the seed kept the user's value).
    const registry = track(spawnProc(process.execPath, ['dist/cli/main.js', 'registry', '--listen', '127.0.0.1:0', '--data', '.tether-data/registry'], { cwd: checkout, env: userEnv() }));
    const url = (await registry.waitForLog((r) => typeof r.url === 'string')).url as string;
    expect(await serviceIds(url, 'default')).toEqual([]);
    expect(((await (await fetch(`${url}/v1.0/default/configuration//demo/greeting`)).json()) as { value: string }).value).toBe('hello');
    expect(await registry.stop()).toEqual({ code: 0, signal: null });
  }, 120_000);
});

describe('Dockerfile, run without a Docker engine', () => {
  /** The image's USER as spawn options, when this test may switch users (it runs as root). */
  function asUser(): { uid?: number; gid?: number } {
    const [uid, gid] = (image.user ?? '').split(':').map(Number);
    return process.getuid?.() === 0 && uid !== undefined ? { uid, gid: gid ?? uid } : {};
  }
  /** `docker run IMAGE ...args` (with `-e` for `env`). */
  function dockerRun(args: string[], env: Record<string, string> = {}): Proc {
    const [cmd, ...rest] = imageCommand(image, args);
    return track(spawnProc(cmd as string, rest, { cwd: join(image.root, image.workdir), env: { PATH: process.env.PATH ?? '', ...image.env, ...env }, ...asUser() }));
  }
  /** Runs the HEALTHCHECK command; resolves with its exit code. */
  async function healthcheck(env: Record<string, string> = {}): Promise<number | null> {
    const [cmd, ...args] = image.healthcheck as string[];
    const check = track(spawnProc(cmd as string, args, { env: { PATH: process.env.PATH ?? '', ...image.env, ...env }, ...asUser() }));
    return (await check.exited).code;
  }
  /** A directory the image's user may write (a volume). */
  async function volume(name: string): Promise<string> {
    const dir = join(tmp.path, 'volumes', name);
    await mkdir(dir, { recursive: true });
    const { uid, gid } = asUser();
    if (uid !== undefined) {
      await chown(join(tmp.path, 'volumes'), uid, gid as number);
      await chown(dir, uid, gid as number);
    }
    return dir;
  }

  it('builds a runtime stage with production dependencies only, a non-root user, tini and a HEALTHCHECK', async () => {
    const df = parseDockerfile(await readFile(join(repoRoot, 'Dockerfile'), 'utf8'));
    const runtime = df.stages.at(-1);
    expect(runtime?.from).toMatch(/^node:(\d+)(\.\d+\.\d+)?-[a-z]+-slim$/);
    const major = Number(/^node:(\d+)/.exec(runtime?.from ?? '')?.[1]);
    expect(major % 2, 'an LTS line is even').toBe(0);
    expect(major).toBeGreaterThanOrEqual(22);
    expect(image.skipped.some((s) => s.includes('tini'))).toBe(true);
    // The build stage runs `npm ci --ignore-scripts`, then rebuilds better-sqlite3 alone: a new
    // production dependency with an install script needs a line in the Dockerfile. (esbuild's,
    // a dev dependency of tsx and vitest, only checks its binary; the build is tsc.)
    const lock = JSON.parse(await readFile(join(repoRoot, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { hasInstallScript?: boolean; dev?: boolean }>;
    };
    // ('' is this package: its install script, the reaper addon, has its own RUN line.)
    // protobufjs (under @grpc/grpc-js) has a postinstall that only warns about its own version
    // scheme: the image does not need it.
    const notNeeded = new Set(['node_modules/protobufjs']);
    const scripted = Object.entries(lock.packages).filter(([name, p]) => name !== '' && p.hasInstallScript && !p.dev && !notNeeded.has(name));
    expect(scripted.map(([name]) => name)).toEqual(['node_modules/better-sqlite3']);
    expect(image.entrypoint).toEqual(['tini', '--', 'tether']);
    expect(image.user).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    expect(image.healthcheck?.join(' ')).toContain('TETHER_HEALTHCHECK_URL');
    expect(image.env.TETHER_HEALTHCHECK_URL).toBe('http://127.0.0.1:8471/healthz');
    const modules = join(image.root, 'app', 'node_modules');
    expect(existsSync(join(modules, 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'))).toBe(true);
    // The orphan reaper addon of `tether exec` as PID 1, built in the build stage.
    expect(existsSync(join(image.root, 'app', 'native', 'build', 'Release', 'tether_reaper.node'))).toBe(true);
    for (const dev of ['typescript', 'vitest', 'tsx', '@types/better-sqlite3']) expect(existsSync(join(modules, dev)), dev).toBe(false);
    expect(await readdir(join(image.root, 'app'))).toEqual(expect.arrayContaining(['dist', 'node_modules', 'package.json']));
    expect(await readdir(join(image.root, 'app'))).not.toContain('src');

    const help = dockerRun([]);
    expect(await help.exited).toEqual({ code: 0, signal: null });
    expect(help.stdout()).toContain('Usage: tether <command>');
  });

  it('runs the registry and the agent from the image: healthy, registered, deregistered on docker stop', async () => {
    await expectPortFree(8471);
    const registry = dockerRun(['registry', '--listen', '127.0.0.1:0', '--data', join(await volume('registry'), 'data')]);
    const url = (await registry.waitForLog((r) => typeof r.url === 'string', 20_000)).url as string;
    expect(await healthcheck({ TETHER_HEALTHCHECK_URL: `${url}/healthz` })).toBe(0);
    expect(await healthcheck({ TETHER_HEALTHCHECK_URL: `${url}/no-such-path` }), 'a 404 is not healthy').toBe(1);

    // Defaults left as the image has them: the agent's local API on 127.0.0.1:8471, where the HEALTHCHECK looks.
    const etc = await volume('etc');
    const manifest = join(etc, 'tether.yaml');
    await writeFile(
      manifest,
      [
        `upstream: { url: "${url}/v1.0/docker" }`,
        `agent: { state_dir: ${join(etc, 'state')} }`,
        'services:',
        '  - { id: docker-equivalent, tags: [docker] }',
        'files:',
        '  - { path: ./out/greeting.txt, from: { key: /docker/greeting } }',
        '',
      ].join('\n'),
    );
    await fetch(`${url}/v1.0/docker/configuration//docker/greeting`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value: 'from the image' }),
    });
    const agent = dockerRun(['agent', '--config', manifest]);
    await agent.waitForLog((r) => r.msg === 'agent started', 20_000);
    expect(await healthcheck()).toBe(0);
    await expect.poll(() => serviceIds(url, 'docker'), { timeout: 10_000 }).toEqual(['docker-equivalent']);
    await expect.poll(() => readFile(join(etc, 'out', 'greeting.txt'), 'utf8').catch(() => ''), { timeout: 10_000 }).toBe('from the image');
    expect((await stat(join(etc, 'out', 'greeting.txt'))).uid, 'written as the image user').toBe(asUser().uid ?? process.getuid?.());

    // `docker stop`: SIGTERM, which tini passes on.
    expect(await agent.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(await serviceIds(url, 'docker')).toEqual([]);
    expect(await healthcheck(), 'nothing listens any more').toBe(1);
    expect(await registry.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 60_000);
});

describe('the packed package, installed outside the checkout', () => {
  const pkgVersion = async (): Promise<string> => (JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
  /** `npx ARGS` in the project the tarball is installed in, as its user types it. */
  const npx = (...args: string[]): Promise<{ stdout: string }> => runCommand('npx', args, installed.app, userEnv());

  it('is tether-sidecar; the tarball holds the build, the schema, the example manifest and the README, no sources or tests', () => {
    expect(installed.files).toEqual(
      expect.arrayContaining(['package.json', 'README.md', 'config.example.yaml', 'schema/tether.schema.json', 'dist/index.js', 'dist/index.d.ts', 'dist/server-entry.js', 'dist/cli/main.js']),
    );
    expect(installed.files.filter((p) => /^(src|test|bench|spec|scripts|deploy)\//.test(p))).toEqual([]);
    expect(existsSync(join(installed.app, 'node_modules', 'tether-sidecar', 'package.json'))).toBe(true);
  });

  it('runs the `tether` bin through npx, by its command name and by the package name: --version and --help', async () => {
    expect((await npx('tether', '--version')).stdout.trim()).toBe(await pkgVersion());
    expect((await npx('tether-sidecar', '--version')).stdout.trim()).toBe(await pkgVersion());
    expect((await npx('tether', '--help')).stdout).toContain('Usage: tether <command>');
  }, 60_000);

  it('imports the client by package name without loading the server, a store or any dependency', async () => {
    const urls = await modulesLoadedBy('tether-sidecar', installed.app);
    const at = /^.*\/node_modules\/tether-sidecar\/dist\//;
    const ours = urls.filter((u) => at.test(u)).map((u) => u.replace(at, ''));
    expect(ours).toEqual(expect.arrayContaining(['index.js', 'client/client.js']));
    expect(ours.filter((f) => SERVER_MODULES.some((re) => re.test(`/${f}`)))).toEqual([]);
    expect(packagesIn(urls)).toEqual(['tether-sidecar']);
  }, 60_000);

  it('serves a registry from the installed command; the README library example and the client commands work against it', async () => {
    const bin = join(installed.app, 'node_modules', '.bin', 'tether');
    const registry = track(spawnProc(bin, ['registry', '--listen', '127.0.0.1:0', '--data', join(installed.app, 'data')], { cwd: installed.app, env: userEnv() }));
    const url = (await registry.waitForLog((r) => typeof r.url === 'string', 20_000)).url as string;

    // The README's library example as a user's module: it registers, heartbeats, then cleans up.
    const readme = await readFile(join(installed.app, 'node_modules', 'tether-sidecar', 'README.md'), 'utf8');
    const example = (/## Library\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? '').replace('http://127.0.0.1:8470', url).replace('// ... later: ', '');
    expect(example).toContain("from 'tether-sidecar'");
    await writeFile(join(installed.app, 'example.mjs'), example);
    await runCommand(process.execPath, ['example.mjs'], installed.app, userEnv());
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
    const { stdout } = await runCommand(process.execPath, ['--input-type=module', '-e', script], installed.app, userEnv());
    expect(JSON.parse(stdout)).toEqual(['inside']);
  }, 60_000);
});
