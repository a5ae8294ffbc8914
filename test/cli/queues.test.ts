import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HttpQueues } from '../../src/client/queues.js';
import { cliMain, spawnTether, startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { tether } from './cli-process.js';

/**
 * `tether queues ...`: the built CLI against a real `tether registry`
 * process (SQLite in a temp dir), which serves the queues API on /v1.
 */

// Each CLI call is a Node start-up; on a loaded machine a test of many calls needs more than the default 30 s.
vi.setConfig({ testTimeout: 120_000 });

let tmp: TempDir;
let reg: RegistryProc;

beforeAll(async () => {
  tmp = await createTempDir('queues-cli');
  reg = await startRegistry(join(tmp.path, 'data'));
}, 60_000);
afterAll(async () => {
  await reg?.stop();
  await tmp?.remove();
});

function run(args: string[], project: string, input?: string): ReturnType<typeof tether> {
  return tether(cliMain(), ['queues', ...args], { TETHER_URL: `${reg.url}/v1.0/${project}` }, input);
}

async function json<T>(args: string[], project: string): Promise<T> {
  const r = await run([...args, '--json'], project);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

interface CliMessage {
  id: string;
  ttl: number;
  age: number;
  body: unknown;
  claimId?: string;
}

describe('tether queues', () => {
  it('creates a queue, posts from stdin and arguments, lists, claims, deletes with the claim, releases, deletes the queue', async () => {
    const p = 'cliq1';
    expect(await run(['create', 'jobs'], p)).toMatchObject({ code: 0, stdout: 'created\n' });
    expect(await run(['create', 'jobs'], p)).toMatchObject({ code: 0, stdout: 'exists\n' });

    const posted = await run(['post', 'jobs', '--ttl', '600'], p, '{"job":1}\n{"job":2}\n\n"three"\n');
    expect(posted.code, posted.stderr).toBe(0);
    const ids = posted.stdout.trim().split('\n');
    expect(ids).toHaveLength(3);
    const [fourth] = await json<string[]>(['post', 'jobs', '[4]'], p);

    const page = await json<{ messages: CliMessage[]; marker?: string }>(['messages', 'jobs'], p);
    expect(page.messages.map((m) => [m.id, m.body])).toEqual([
      [ids[0], { job: 1 }],
      [ids[1], { job: 2 }],
      [ids[2], 'three'],
      [fourth, [4]],
    ]);
    expect(page.messages[0]?.ttl).toBe(600);
    expect(page.marker).toBeDefined();
    // The page after the last one is empty.
    expect((await json<{ messages: CliMessage[] }>(['messages', 'jobs', '--marker', page.marker as string], p)).messages).toEqual([]);
    const table = await run(['messages', 'jobs', '--limit', '2'], p);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+AGE\s+TTL\s+BODY$/);
    expect(table.stdout).toContain('{"job":2}');
    expect(table.stdout).not.toContain('three');
    expect(table.stderr).toMatch(/^next: --marker \S+\n$/);

    expect(await json<unknown>(['list'], p)).toEqual([{ name: 'jobs' }]);
    expect(await json<unknown>(['stats', 'jobs'], p)).toMatchObject({ total: 4, free: 4, claimed: 0, oldest: { id: ids[0] } });

    const claim = await json<{ id: string; ttl: number; messages: CliMessage[] }>(['claim', 'jobs', '--limit', '2', '--ttl', '120', '--grace', '60'], p);
    expect(claim.ttl).toBe(120);
    expect(claim.messages.map((m) => m.id)).toEqual(ids.slice(0, 2));
    expect(claim.messages.every((m) => m.claimId === claim.id)).toBe(true);

    const refused = await run(['delete', 'jobs', ids[0] as string], p);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('Unable to delete');
    // --claim without the ids is refused, so a forgotten id never deletes the queue.
    expect((await run(['delete', 'jobs', '--claim', claim.id], p)).code).toBe(2);
    expect((await run(['delete', 'jobs', ids[0] as string, '--claim', claim.id], p)).code).toBe(0);
    expect(await json<unknown>(['stats', 'jobs'], p)).toMatchObject({ total: 3, claimed: 1, free: 2 });
    expect((await run(['release', 'jobs', claim.id], p)).code).toBe(0);
    expect(await json<unknown>(['stats', 'jobs'], p)).toMatchObject({ total: 3, claimed: 0, free: 3 });

    expect(await json<unknown>(['get', 'jobs', ids[1] as string], p)).toMatchObject({ id: ids[1], body: { job: 2 } });
    expect((await json<CliMessage[]>(['get', 'jobs', ids[1] as string, ids[2] as string], p)).map((m) => m.id).sort()).toEqual(
      [ids[1], ids[2]].sort(),
    );

    expect((await run(['delete', 'jobs'], p)).code).toBe(0);
    const gone = await run(['stats', 'jobs'], p);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^error: /);
  });

  it('sets and reads metadata, claims with --wait, and keeps projects apart', async () => {
    const p = 'cliq2';
    expect((await run(['create', 'meta'], p)).code).toBe(0);
    expect((await run(['metadata', 'set', 'meta', '-'], p, '{"owner":"ops","n":[1,2]}\n')).code).toBe(0);
    expect(await json<unknown>(['metadata', 'get', 'meta'], p)).toEqual({ owner: 'ops', n: [1, 2] });
    // Another project (by --project, or by URL) does not see it.
    const other = await tether(cliMain(), ['queues', 'list', '--json', '--project', 'cliq2-other'], { TETHER_URL: `${reg.url}/v1.0/${p}` });
    expect(other.stdout).toBe('[]\n');

    // A claim that waits gets a message posted while it waits.
    const waiting = run(['claim', 'meta', '--wait', '20', '--json'], p);
    const client = new HttpQueues({ url: reg.url });
    try {
      // The CLI's claim is held by the server before the post (its /metrics counts it).
      await vi.waitFor(
        async () => {
          const text = await (await fetch(`${reg.url}/metrics`)).text();
          expect(/^tether_long_polls_waiting\{api="queues"\} (\d+)$/m.exec(text)?.[1]).toBe('1');
        },
        { timeout: 30_000, interval: 100 },
      );
      await client.postMessages(p, 'meta', client.clientId, [{ ttl: 300, body: 'late' }]);
    } finally {
      await client.close();
    }
    const got = await waiting;
    expect(got.code, got.stderr).toBe(0);
    expect((JSON.parse(got.stdout) as { messages: CliMessage[] }).messages.map((m) => m.body)).toEqual(['late']);
    // Nothing free now: no output, exit 0.
    expect(await run(['claim', 'meta'], p)).toMatchObject({ code: 0, stdout: '' });
  });

  it('posts long stdin in batches, in order, and lists every page of queues', async () => {
    const p = 'cliq4';
    const client = new HttpQueues({ url: reg.url });
    try {
      for (let i = 0; i < 12; i++) await client.createQueue(p, `q${String(i).padStart(2, '0')}`);
      const lines = Array.from({ length: 45 }, (_, i) => JSON.stringify({ n: i })).join('\n');
      const posted = await run(['post', 'q00', '--json'], p, `${lines}\n`);
      expect(posted.code, posted.stderr).toBe(0);
      const ids = JSON.parse(posted.stdout) as string[];
      expect(ids).toHaveLength(45);
      // Listed oldest first, the bodies come in stdin order, with the ids the CLI printed.
      const listed: Array<{ id: string; body: unknown }> = [];
      for (let marker: string | undefined, pages = 0; pages < 10; pages++) {
        const page = await client.listMessages(p, 'q00', { clientId: client.clientId, limit: 20, marker });
        if (page.messages.length === 0) break;
        listed.push(...page.messages);
        marker = page.marker;
      }
      expect(listed.map((m) => m.id)).toEqual(ids);
      expect(listed.map((m) => m.body)).toEqual(Array.from({ length: 45 }, (_, i) => ({ n: i })));
      // More queues than one page (10 by default): the CLI follows the pages.
      const all = await json<Array<{ name: string }>>(['list'], p);
      expect(all.map((q) => q.name)).toEqual(Array.from({ length: 12 }, (_, i) => `q${String(i).padStart(2, '0')}`));
    } finally {
      await client.close();
    }
  });

  it('messages --follow prints new messages as JSON lines until SIGTERM, then the marker to resume from', async () => {
    const p = 'cliq5';
    const client = new HttpQueues({ url: reg.url });
    try {
      await client.createQueue(p, 'feed');
      await client.postMessages(p, 'feed', client.clientId, [{ ttl: 300, body: 'before' }]);
      const proc = spawnTether(['queues', 'messages', 'feed', '--follow', '--json'], { TETHER_URL: `${reg.url}/v1.0/${p}` });
      const lines = (): unknown[] => proc.stdout().split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { body: unknown }).body);
      await vi.waitFor(() => expect(lines()).toEqual(['before']), { timeout: 30_000 });
      await client.postMessages(p, 'feed', client.clientId, [{ ttl: 300, body: 'after' }, { ttl: 300, body: { n: 2 } }]);
      await vi.waitFor(() => expect(lines()).toEqual(['before', 'after', { n: 2 }]), { timeout: 30_000 });
      const { code } = await proc.stop('SIGTERM');
      expect(code).toBe(0);
      expect(proc.log.join('\n')).toMatch(/next: --marker \S+/);
    } finally {
      await client.close();
    }
  });

  it('exits 2 on usage errors and 3 when the server is unreachable', async () => {
    const usage = await run(['post'], 'cliq3');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('tether queues --help');
    expect((await run(['messages', 'q', '--limit', 'ten'], 'cliq3')).code).toBe(2);
    expect((await run(['post', 'q', '{not json'], 'cliq3')).stderr).toContain('body 1 is not JSON');
    expect((await run(['frobnicate'], 'cliq3')).code).toBe(2);
    const help = await tether(cliMain(), ['queues', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('release QUEUE CLAIM');
    const dead = await tether(cliMain(), ['queues', 'list', '--url', 'http://127.0.0.1:9/v1.0/x']);
    expect(dead.code).toBe(3);
  });
});
