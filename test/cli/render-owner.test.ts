import { chmod, chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { cliMain, spawnProc, spawnTether, startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * A file the agent rewrites keeps its owner, group and mode when the
 * manifest gives none, as consul-template and confd keep them: `tether
 * render --once` as root over a file that belongs to another user, and as
 * that other user over root's file (which it may not give back: a warning).
 */
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

let tmp: TempDir;
let registry: RegistryProc;
let client: HttpRegistry;

/** A manifest rendering key /motd of `tenant` into `out`, no owner, group or mode. */
async function manifest(tenant: string, out: string): Promise<string> {
  const config = join(tmp.path, `${tenant}.yaml`);
  await writeFile(config, `upstream:\n  url: ${registry.url}/v1.0/${tenant}\nfiles:\n  - path: ${out}\n    from: { key: /motd }\n    format: raw\n`);
  await chmod(config, 0o644);
  return config;
}

// Registered only where it can run (giving a file to another user takes root); CI runs as root.
if (isRoot) {
  describe('tether render --once: a replaced file keeps its owner', () => {
    beforeAll(async () => {
      tmp = await createTempDir('render-owner');
      await chmod(tmp.path, 0o755);
      registry = await startRegistry(join(tmp.path, 'registry'));
      client = new HttpRegistry({ url: registry.url });
    });
    afterAll(async () => {
      await client.close();
      await registry.stop('SIGKILL');
      await tmp.remove();
    });

    it('as root, over a file of another user: owner, group and mode stay', async () => {
      const t = `owner-root-${Date.now()}`;
      await client.setConfig(t, '/motd', { value: 'new\n' });
      const out = join(tmp.path, 'motd-root');
      await writeFile(out, 'old\n');
      await chown(out, NOBODY, NOBODY);
      await chmod(out, 0o640);
      const r = spawnTether(['render', '--config', await manifest(t, out), '--once']);
      expect((await r.exited).code, r.log.join('\n')).toBe(0);
      expect(await readFile(out, 'utf8')).toBe('new\n');
      const st = await stat(out);
      expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 }).toEqual({ uid: NOBODY, gid: NOBODY, mode: 0o640 });
    });

    it('as another user, over root\'s file in its own directory: written, its own, with one warning', async () => {
      const t = `owner-user-${Date.now()}`;
      await client.setConfig(t, '/motd', { value: 'new\n' });
      const dir = join(tmp.path, 'user-dir');
      await mkdir(dir);
      await chown(dir, NOBODY, NOBODY);
      const out = join(dir, 'motd');
      await writeFile(out, 'old\n');
      await chmod(out, 0o644);
      const r = spawnProc(process.execPath, [cliMain(), 'render', '--config', await manifest(t, out), '--once'], {
        env: { PATH: process.env.PATH ?? '' },
        uid: NOBODY,
        gid: NOBODY,
      });
      expect((await r.exited).code, r.log.join('\n')).toBe(0);
      expect(await readFile(out, 'utf8')).toBe('new\n');
      expect(await stat(out)).toMatchObject({ uid: NOBODY, gid: NOBODY });
      expect(r.log.filter((l) => l.includes("cannot keep the replaced file's owner"))).toHaveLength(1);
    });
  });
}
