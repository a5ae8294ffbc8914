import { mkdir, readFile, rename, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openAccessLog } from '../../src/server/access-log.js';
import { startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

// Review R9 F5: a SIGHUP reopen that cannot open the file (logrotate `create` with an owner the
// server cannot write as, a full disk, a directory in the way) must not kill the registry.

const temps: TempDir[] = [];
const procs: RegistryProc[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) await p.stop();
  for (const t of temps.splice(0)) await t.remove();
});

async function ids(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  return text.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { id: string }).id);
}

describe('access log reopen failure', () => {
  it('keeps serving and writing to the old file, warns, and reopens on the next SIGHUP that can', async () => {
    const tmp = await createTempDir('access-log-reopen');
    temps.push(tmp);
    const file = join(tmp.path, 'access.jsonl');
    const proc = await startRegistry(join(tmp.path, 'data'), 0, ['--access-log', file]);
    procs.push(proc);
    const sent: string[] = [];
    const call = async (): Promise<void> => {
      const r = await fetch(`${proc.url}/v1.0/rot/limits`);
      expect(r.status).toBe(200);
      sent.push(r.headers.get('x-response-id') as string);
    };
    for (let i = 0; i < 3; i++) await call();
    await rename(file, `${file}.1`);
    await mkdir(file); // the reopen fails with EISDIR
    proc.child.kill('SIGHUP');
    const warned = await proc.waitForLog((rec) => typeof rec.msg === 'string' && rec.msg.startsWith('access log: cannot write or reopen'), 15_000);
    expect(warned).toMatchObject({ level: 'warn', code: 'EISDIR', path: file });
    for (let i = 0; i < 3; i++) await call(); // still alive, still logging (to the renamed file)
    await expect.poll(() => ids(`${file}.1`), { timeout: 10_000, interval: 50 }).toEqual(sent);

    await rmdir(file);
    proc.child.kill('SIGHUP');
    await expect.poll(() => stat(file).then((s) => s.isFile(), () => false), { timeout: 15_000, interval: 50 }).toBe(true);
    await proc.waitForLog((rec) => rec.msg === 'access log: writing again', 15_000);
    const before = sent.length;
    for (let i = 0; i < 3; i++) await call();
    const exit = await proc.stop();
    procs.splice(0);
    expect(exit.code).toBe(0);
    expect(await ids(`${file}.1`)).toEqual(sent.slice(0, before));
    expect(await ids(file)).toEqual(sent.slice(before));
  });

  it('in process: a failed reopen emits no uncaught error and the next line still lands in the open file', async () => {
    const tmp = await createTempDir('access-log-reopen-inproc');
    temps.push(tmp);
    const path = join(tmp.path, 'access.jsonl');
    const log = openAccessLog(path);
    log.refused(400, 'before', '127.0.0.1');
    await expect.poll(() => readFile(path, 'utf8').catch(() => ''), { timeout: 5000, interval: 20 }).toContain('before');
    await rename(path, `${path}.1`);
    await mkdir(path);
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    process.prependListener('uncaughtException', onUncaught);
    try {
      log.reopen();
      log.refused(400, 'after', '127.0.0.1');
      await expect.poll(() => readFile(`${path}.1`, 'utf8'), { timeout: 5000, interval: 20 }).toContain('after');
    } finally {
      process.removeListener('uncaughtException', onUncaught);
    }
    expect(uncaught.map(String)).toEqual([]);
    expect(log.dropped).toBe(0);
    await log.close();
  });
});
