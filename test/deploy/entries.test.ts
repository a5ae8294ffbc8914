import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/clean-copy.js';
import { modulesLoadedBy, packagesIn, SERVER_MODULES } from '../helpers/module-trace.js';
import { cliMain } from '../helpers/procs.js';

/**
 * The package's two entries, as built (test/global-setup.ts builds the
 * library with tsc, like `npm run build`): the main one is the client and
 * carries none of the server's weight; `./server` carries it. Each is
 * imported in a fresh `node` whose loader records every module.
 */

interface PackageJson {
  name: string;
  main: string;
  types: string;
  exports: Record<string, { types: string; default: string }>;
}

const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as PackageJson;
const dist = (): string => dirname(dirname(cliMain()));

/** The built files of ours that `entry` loads, relative to the build's root ('client/client.js'). */
async function load(entry: string): Promise<{ ours: string[]; packages: string[] }> {
  const root = `${pathToFileURL(dist()).href}/`;
  const urls = await modulesLoadedBy(`${root}${entry}`, dist());
  return { ours: urls.filter((u) => u.startsWith(root)).map((u) => u.slice(root.length)), packages: packagesIn(urls) };
}

describe('package entries', () => {
  it('package.json: "." is the client (src/index.ts), "./server" the server (src/server-entry.ts), each with its types', async () => {
    expect(pkg.exports).toEqual({
      '.': { types: './dist/index.d.ts', default: './dist/index.js' },
      './server': { types: './dist/server-entry.d.ts', default: './dist/server-entry.js' },
      './package.json': './package.json',
    });
    expect(pkg.main).toBe('./dist/index.js');
    expect(pkg.types).toBe('./dist/index.d.ts');
    expect(await readdir(dist())).toEqual(expect.arrayContaining(['index.js', 'index.d.ts', 'server-entry.js', 'server-entry.d.ts']));
  });

  it('the main entry loads the clients and no third-party package, no server, no store', async () => {
    const { ours, packages } = await load('index.js');
    expect(ours).toEqual(expect.arrayContaining(['index.js', 'client/client.js', 'client/heartbeater.js', 'client/events-follower.js']));
    expect(ours.filter((f) => SERVER_MODULES.some((re) => re.test(`/${f}`)))).toEqual([]);
    // better-sqlite3, zod, pino, prom-client, undici...: none.
    expect(packages).toEqual([]);
  });

  it('the server entry loads them: better-sqlite3, zod and the server (the trace sees what the client must not load)', async () => {
    const { ours, packages } = await load('server-entry.js');
    expect(packages).toEqual(expect.arrayContaining(['better-sqlite3', 'zod', 'pino']));
    expect(ours).toEqual(expect.arrayContaining(['server-entry.js', 'server/index.js', 'store/sqlite.js', 'registry/service.js']));
  });

  it('exports what each README example imports', async () => {
    const client = (await import(pathToFileURL(join(dist(), 'index.js')).href)) as Record<string, unknown>;
    for (const name of ['Client', 'HttpRegistry', 'HeartBeater', 'SessionHeartBeater', 'EventsFollower', 'TetherError', 'RegistryFault', 'EVENT_TYPES']) {
      expect(client[name], name).toBeDefined();
    }
    expect(client.RegistryService).toBeUndefined();
    const server = (await import(pathToFileURL(join(dist(), 'server-entry.js')).href)) as Record<string, unknown>;
    for (const name of ['RegistryService', 'openSqliteStore', 'openEtcdStore', 'createRegistryServer', 'createLogger']) {
      expect(server[name], name).toBeDefined();
    }
  });
});
