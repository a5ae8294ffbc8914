import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startQueuesServer, type QueuesServer } from './queues-server.js';

/** The README's Cloud Queues library example, run as written against a real server. */
const root = join(import.meta.dirname, '..', '..');
let srv: QueuesServer;

beforeAll(async () => {
  srv = await startQueuesServer();
});
afterAll(async () => {
  await srv.close();
});

describe('README Cloud Queues example', () => {
  it('posts a job and consume() hands it to the handler, which deletes it', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Cloud Queues\n'));
    const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block).toContain('consume(');
    const seen: unknown[] = [];
    (globalThis as { __readmeJobs?: unknown[] }).__readmeJobs = seen;
    const code = [
      'const runJob = async (body: unknown, _signal: AbortSignal): Promise<void> => {',
      '  (globalThis as unknown as { __readmeJobs: unknown[] }).__readmeJobs.push(body);',
      '};',
      (block as string)
        .replace(/from 'tether(-sidecar)?'/, `from ${JSON.stringify(join(root, 'src/index.ts'))}`)
        .replace('http://127.0.0.1:8470', srv.url)
        .replace('// ... later:', 'export { queues, stop, done }; //'),
    ].join('\n');
    const file = join(root, 'test', `.readme-queues-example-${process.pid}.ts`);
    await writeFile(file, code);
    try {
      const mod = (await import(file)) as { queues: { close(): Promise<void> }; stop: AbortController; done: Promise<unknown> };
      try {
        await vi.waitFor(() => expect(seen).toEqual([{ job: 1 }]), { timeout: 10_000 });
        await vi.waitFor(async () => expect((await srv.client().getStats('1234', 'jobs')).total).toBe(0), { timeout: 10_000 });
      } finally {
        mod.stop.abort();
        expect(await mod.done).toEqual({ handled: 1, failed: 0 });
        await mod.queues.close();
      }
    } finally {
      await rm(file, { force: true });
    }
  });
});
