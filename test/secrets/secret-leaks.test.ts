import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnTether, startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { reg } from '../quota/wire.js';

/**
 * Where a secret value could still slip out besides the events of a secret
 * key: `render --dry-run`'s diff, and the `old_value` of an event after the
 * key stopped being secret. A real registry process and the CLI.
 */

const SECRET = 'hunter2-Sup3rSecret';
const MARKER = '/_tether/secret_prefixes';
let tmp: TempDir;
let registry: RegistryProc;
let seq = 0;

beforeAll(async () => {
  tmp = await createTempDir('secret-leaks');
  registry = await startRegistry(join(tmp.path, 'registry'));
});
afterAll(async () => {
  await registry.stop();
  await tmp.remove();
});

const setValue = (t: string, id: string, value: string) => reg(registry.url, 'PUT', `/${t}/configuration${id}`, { value });

describe('render --dry-run', () => {
  it('prints no line of a file that holds a secret, and still says it would change and why', async () => {
    const t = `dry-${++seq}-${Date.now()}`;
    expect((await setValue(t, MARKER, JSON.stringify(['/prod/vault/']))).status).toBe(204);
    expect((await setValue(t, '/prod/vault/password', SECRET)).status).toBe(204);
    expect((await setValue(t, '/prod/app/level', 'debug')).status).toBe(204);
    const secretFile = join(tmp.path, `${t}-db.env`);
    const plainFile = join(tmp.path, `${t}-level`);
    const config = join(tmp.path, `${t}.yaml`);
    await writeFile(join(tmp.path, `${t}.liquid`), 'user=app\npass={{ value | base64_encode }}\nraw={{ value }}\n');
    await writeFile(
      config,
      `upstream:\n  url: ${registry.url}/v1.0/${t}\nfiles:\n` +
        `  - path: ${secretFile}\n    from: { key: /prod/vault/password }\n    template: ${t}.liquid\n` +
        `  - path: ${plainFile}\n    from: { key: /prod/app/level }\n`,
    );
    const run = async (...args: string[]) => {
      const p = spawnTether(['render', '--config', config, '--once', '--dry-run', ...args]);
      const { code } = await p.exited;
      return { code, out: p.stdout(), err: p.log.join('\n') };
    };
    const base64 = Buffer.from(SECRET).toString('base64');

    const fresh = await run();
    expect(fresh.err).toBe("");
    expect(fresh.code).toBe(0);
    for (const leak of [SECRET, base64, 'user=app']) expect(fresh.out + fresh.err).not.toContain(leak);
    expect(fresh.out).toContain(`--- /dev/null\n+++ ${secretFile}\n@@ -0,0 +1,3 @@\n  (0 lines removed, 3 added: hidden, the file holds secret values)\n`);
    // A file without secrets keeps its whole diff.
    expect(fresh.out).toContain(`+++ ${plainFile}\n@@ -0,0 +1,1 @@\n+debug\n`);

    // The file on disk holds the former secret; the new one differs: neither is printed, the change still is.
    await writeFile(secretFile, `user=app\npass=old\nraw=${SECRET}-old\n`);
    expect((await setValue(t, '/prod/vault/password', `${SECRET}-new`)).status).toBe(204);
    const changed = await run('--json');
    expect(changed.code).toBe(0);
    expect(changed.out).not.toContain(SECRET);
    const files = JSON.parse(changed.out) as Array<{ path: string; outcome: string; change: string; diff: string }>;
    expect(files.find((f) => f.path === secretFile)).toMatchObject({ outcome: 'would-write', change: 'changed' });
    expect(files.find((f) => f.path === secretFile)?.diff).toContain('(2 lines removed, 2 added: hidden');
  });
});

describe('unmarking a secret prefix', () => {
  type Ev = { type: string; payload: Record<string, unknown> };
  const eventsOf = async (t: string, id: string): Promise<{ text: string; values: Ev[] }> => {
    const res = await reg(registry.url, 'GET', `/${t}/events`);
    const values = (res.json() as { values: Ev[] }).values.filter((e) => e.payload.configuration_value_id === id);
    return { text: res.text, values };
  };

  it('the next event of a value written while it was secret does not carry it as old_value (marker narrowed or deleted)', async () => {
    const t = `unmark-${++seq}-${Date.now()}`;
    const id = '/prod/vault/password';
    expect((await setValue(t, MARKER, JSON.stringify(['/prod/vault/', '/other/']))).status).toBe(204);
    expect((await setValue(t, id, SECRET)).status).toBe(204);
    // Narrowed: /prod/vault/ is no longer secret. The update publishes the new value, not the former secret.
    expect((await setValue(t, MARKER, JSON.stringify(['/other/']))).status).toBe(204);
    expect((await setValue(t, id, 'public-1')).status).toBe(204);
    // A value written after the unmarking was public when written: its old_value is shown.
    expect((await setValue(t, id, 'public-2')).status).toBe(204);
    let ev = await eventsOf(t, id);
    expect(ev.text).not.toContain(SECRET);
    expect(ev.values.map((e) => e.payload)).toEqual([
      { old_value: null, new_value: null, configuration_value_id: id, secret: true },
      { old_value: null, new_value: 'public-1', configuration_value_id: id },
      { old_value: 'public-1', new_value: 'public-2', configuration_value_id: id },
    ]);

    // Marked again, a secret written, then the marker deleted: the key's removal does not carry it either.
    expect((await setValue(t, MARKER, JSON.stringify(['/prod/']))).status).toBe(204);
    expect((await setValue(t, id, `${SECRET}-2`)).status).toBe(204);
    expect((await reg(registry.url, 'DELETE', `/${t}/configuration${MARKER}`)).status).toBe(204);
    expect((await reg(registry.url, 'DELETE', `/${t}/configuration${id}`)).status).toBe(204);
    ev = await eventsOf(t, id);
    expect(ev.text).not.toContain(SECRET);
    expect(ev.values.at(-1)).toMatchObject({ type: 'configuration_value.remove', payload: { old_value: null, configuration_value_id: id } });
  });
});
