import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createProbe } from '../../src/probes/probe.js';
import { closedPort, startTcpTarget } from './targets.js';

let target: Awaited<ReturnType<typeof startTcpTarget>>;
beforeAll(async () => {
  target = await startTcpTarget();
});
afterAll(async () => {
  await target.close();
});

const run = (host: string, port: number) => createProbe({ kind: 'tcp', host, port }, { timeoutMs: 2000, serviceId: 'db' }).run(new AbortController().signal);

describe('tcp probe', () => {
  it('is healthy when the port accepts, and closes the connection', async () => {
    const before = target.accepted();
    expect(await run('127.0.0.1', target.port)).toMatchObject({ ok: true, output: `connected to 127.0.0.1:${target.port}` });
    await vi.waitFor(() => expect(target.accepted()).toBe(before + 1), { timeout: 2000 });
  });

  it('resolves a host name', async () => {
    expect((await run('localhost', target.port)).ok).toBe(true);
  });

  it('reports a refused connection with the error text', async () => {
    const port = await closedPort();
    expect(await run('127.0.0.1', port)).toMatchObject({ ok: false, output: `connect ECONNREFUSED 127.0.0.1:${port}` });
  });

  it('reports an unknown host', async () => {
    const r = await run('no-such-host.invalid', 80);
    expect(r.ok).toBe(false);
    expect(r.output).toMatch(/ENOTFOUND|EAI_AGAIN/);
  });
});
