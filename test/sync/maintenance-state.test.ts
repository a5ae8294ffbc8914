import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_REASON, Maintenance } from '../../src/sync/maintenance.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/** The maintenance state file on real disk: what is saved, what a restart reads, what happens when it cannot be saved. */

let tmp: TempDir;
let seq = 0;
beforeAll(async () => {
  tmp = await createTempDir('maint-state');
});
afterAll(async () => {
  await tmp.remove();
});
const dir = () => join(tmp.path, `d${++seq}`);

describe('Maintenance', () => {
  it('starts empty without a file; a change is on disk before set resolves; a fresh load reads it back', async () => {
    const d = dir();
    const m = await Maintenance.load(d);
    expect(m.snapshot()).toEqual({ agent: null, services: {} });
    // state_dir a regular file: no maintenance can be saved there, so none is on.
    const notDir = join(tmp.path, `file-${seq}`);
    await writeFile(notDir, 'x');
    expect((await Maintenance.load(notDir)).snapshot()).toEqual({ agent: null, services: {} });
    expect(await m.set('web', true, 'disk swap', 1000)).toBe(true);
    expect(JSON.parse(await readFile(join(d, 'maintenance.json'), 'utf8'))).toEqual({ agent: null, services: { web: { reason: 'disk swap', since: 1000 } } });
    expect(m.isOn('web')).toBe(true);
    expect(m.isOn('api')).toBe(false);
    const again = await Maintenance.load(d);
    expect(again.snapshot()).toEqual(m.snapshot());
    // Agent-wide covers every id; the service's own entry is shown first.
    await again.set(null, true, null, 2000);
    expect(again.isOn('api')).toBe(true);
    expect(again.entryFor('web')).toEqual({ reason: 'disk swap', since: 1000 });
    expect(again.entryFor('api')).toEqual({ reason: null, since: 2000 });
  });

  it('enabling again keeps since and takes the new reason; disabling what is off changes nothing; a reason is capped', async () => {
    const m = await Maintenance.load(dir());
    await m.set('web', true, 'a', 1000);
    expect(await m.set('web', true, 'a', 5000)).toBe(false);
    expect(await m.set('web', true, 'b', 5000)).toBe(true);
    expect(m.entryFor('web')).toEqual({ reason: 'b', since: 1000 });
    expect(await m.set('api', false, null)).toBe(false);
    expect(await m.set(null, false, null)).toBe(false);
    await m.set('long', true, 'x'.repeat(5000));
    expect(m.entryFor('long')?.reason).toHaveLength(MAX_REASON);
  });

  it('concurrent changes each start from the one before: none is lost', async () => {
    const d = dir();
    const m = await Maintenance.load(d);
    const ids = Array.from({ length: 20 }, (_, i) => `svc-${i}`);
    await Promise.all(ids.map((id) => m.set(id, true, id)));
    expect(Object.keys(m.snapshot().services).sort()).toEqual([...ids].sort());
    expect(Object.keys((await Maintenance.load(d)).snapshot().services)).toHaveLength(20);
  });

  it('a change that cannot be saved is refused with maint.persist_failed and changes nothing; the next one works', async () => {
    const d = dir();
    const m = await Maintenance.load(d);
    await m.set('web', true, 'kept');
    // A directory where the file goes: rename() over it fails (EISDIR), also for root.
    const blocked = join(tmp.path, `blocked-${seq}`);
    await mkdir(join(blocked, 'maintenance.json'), { recursive: true });
    const bm = await Maintenance.load(blocked);
    // Reading a directory fails (EISDIR): fail-safe agent-wide maintenance.
    expect(bm.snapshot().agent?.reason).toMatch(/cannot read/);
    await expect(bm.set('web', true, 'x')).rejects.toMatchObject({ code: 'maint.persist_failed' });
    expect(bm.snapshot().services).toEqual({});
    await expect(bm.set(null, false, null)).rejects.toMatchObject({ code: 'maint.persist_failed' });
    expect(bm.snapshot().agent).not.toBeNull();
    // The healthy one was untouched and still works.
    expect(await m.set('web', false, null)).toBe(true);
  });

  it('an unreadable file fails safe: agent-wide maintenance saying why, reported once', async () => {
    const d = dir();
    await mkdir(d, { recursive: true });
    await writeFile(join(d, 'maintenance.json'), '{"agent": null, "services": {"web": {"since": "yesterday"}}}');
    const problems: string[] = [];
    const m = await Maintenance.load(d, (p) => problems.push(p));
    expect(problems).toHaveLength(1);
    expect(m.snapshot().agent?.reason).toMatch(/services\.web must be \{ reason, since \}.*tether maint disable/);
    expect(m.isOn('anything')).toBe(true);
    expect(await m.set(null, false, null)).toBe(true);
    expect(JSON.parse(await readFile(join(d, 'maintenance.json'), 'utf8'))).toEqual({ agent: null, services: {} });
  });
});
