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
 * A user in the file's group keeps the group, and an agent does not try the
 * owner it could not give again on the next write (strace counts the calls).
 */
const NOBODY = 65534;
/** A group root's files are given and NOBODY is made a member of (setpriv), not NOBODY's own. */
const SHARED = 4242;
/** argv prefix: run as NOBODY, with SHARED as its one supplementary group. */
const asNobodyInShared = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, `--groups=${SHARED}`];
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
    /** A directory NOBODY may write in (the agent replaces files by renaming over them). */
    const nobodyDir = async (name: string): Promise<string> => {
      const dir = join(tmp.path, name);
      await mkdir(dir);
      await chown(dir, NOBODY, NOBODY);
      return dir;
    };
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

    it("as another user in the replaced file's group: the group stays, the owner is its own", async () => {
      const t = `owner-group-${Date.now()}`;
      await client.setConfig(t, '/motd', { value: 'new\n' });
      const out = join(await nobodyDir('group-dir'), 'motd');
      await writeFile(out, 'old\n');
      await chown(out, 0, SHARED);
      await chmod(out, 0o640);
      const config = await manifest(t, out);
      const r = spawnProc(asNobodyInShared[0] as string, [...asNobodyInShared.slice(1), process.execPath, cliMain(), 'render', '--config', config, '--once'], {
        env: { PATH: process.env.PATH ?? '' },
      });
      expect((await r.exited).code, r.log.join('\n')).toBe(0);
      expect(await readFile(out, 'utf8')).toBe('new\n');
      const st = await stat(out);
      expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 }).toEqual({ uid: NOBODY, gid: SHARED, mode: 0o640 });
      expect(r.log.filter((l) => l.includes("in the replaced file's group"))).toHaveLength(1);
    });

    it('an agent does not try an owner it could not give again: one EPERM chown over two writes of the same path', async () => {
      const t = `owner-agent-${Date.now()}`;
      await client.setConfig(t, '/motd', { value: 'one\n' });
      const dir = await nobodyDir('agent-dir');
      const out = join(dir, 'motd');
      await writeFile(out, 'old\n');
      await chown(out, 0, SHARED);
      const config = join(tmp.path, `${t}.yaml`);
      await writeFile(
        config,
        `upstream:\n  url: ${registry.url}/v1.0/${t}\nagent: { listen: "127.0.0.1:0", state_dir: ${join(dir, 'state')} }\nfiles:\n  - path: ${out}\n    from: { key: /motd }\n    format: raw\n`,
      );
      await chmod(config, 0o644);
      const trace = join(tmp.path, `${t}.strace`);
      const argv = ['-f', '-qq', '-e', 'trace=fchown', '-o', trace, ...asNobodyInShared, process.execPath, cliMain(), 'agent', '--config', config];
      const agent = spawnProc('strace', argv, { env: { PATH: process.env.PATH ?? '' } });
      const pid = (await agent.waitForLog((r) => r.msg === 'agent started', 20_000)).pid as number;
      await expect.poll(() => readFile(out, 'utf8'), { timeout: 15_000 }).toBe('one\n');
      expect(await stat(out)).toMatchObject({ uid: NOBODY, gid: SHARED });
      // The operator gives the file back to root; the next write meets the same owner.
      await chown(out, 0, SHARED);
      await client.setConfig(t, '/motd', { value: 'two\n' });
      await expect.poll(() => readFile(out, 'utf8'), { timeout: 15_000 }).toBe('two\n');
      expect(await stat(out)).toMatchObject({ uid: NOBODY, gid: SHARED });
      process.kill(pid, 'SIGTERM');
      expect((await agent.exited).code).toBe(0);
      const calls = (await readFile(trace, 'utf8')).split('\n');
      expect(calls.filter((l) => new RegExp(`fchown\\(\\d+, 0, ${SHARED}\\)\\s+= -1 EPERM`).test(l))).toHaveLength(1);
      expect(calls.filter((l) => new RegExp(`fchown\\(\\d+, -1, ${SHARED}\\)\\s+= 0`).test(l))).toHaveLength(2);
      expect(agent.log.filter((l) => l.includes("cannot keep the replaced file's owner"))).toHaveLength(1);
    });
  });
}
