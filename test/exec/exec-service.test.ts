import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { APP, ExecHarness, alive, starts } from './harness.js';

/**
 * The child as a service, with real processes: registered while the child
 * runs and passes its check, deregistered when it exits, and at shutdown
 * deregistered before the child gets the signal.
 */

const h = new ExecHarness();
beforeAll(() => h.start('exec-service'));
afterEach(() => h.cleanup());
afterAll(() => h.stop());

const POLL = { timeout: 20_000, interval: 50 };

async function ids(tenant: string): Promise<string[]> {
  return (await h.client.listServices(tenant)).values.map((s) => s.id);
}

describe('tether exec: the child as a service', () => {
  it('is registered while the child runs, deregistered when it exits, and registered again after the restart', async () => {
    const t = 'svc-life';
    const { config } = await h.manifest(t, 'exec:\n  restart: on-failure\n  min_uptime: 100ms\n  restart_delay: 5s\n  service:\n    id: exec-app\n    tags: [web]\n');
    const proc = h.exec(config, [...APP, 'exit', '3', '3000']);
    await expect.poll(() => ids(t), POLL).toEqual(['exec-app']);
    await proc.waitForLog((r) => r.msg === 'child crashed: restarting after a delay');
    await expect.poll(() => ids(t), POLL).toEqual([]);
    expect(starts(proc.stdout())).toHaveLength(1); // still in the 5 s backoff
    await expect.poll(() => starts(proc.stdout()).length, POLL).toBe(2);
    await expect.poll(() => ids(t), POLL).toEqual(['exec-app']);
  });

  it('is not registered while its check fails, though the child runs', async () => {
    const t = 'svc-check';
    const { config } = await h.manifest(t, 'exec:\n  service:\n    id: exec-app\n    check: { exec: [/bin/false], interval: 100ms, fall: 1 }\n');
    const proc = h.exec(config, [...APP, 'serve']);
    const api = (await proc.waitForLog((r) => r.msg === 'agent started')).api as string;
    await expect.poll(() => proc.stdout(), POLL).toContain('READY');
    await expect
      .poll(async () => ((await (await fetch(`${api}/v1/status`)).json()) as { services: Array<{ id: string; health: string }> }).services, POLL)
      .toEqual([expect.objectContaining({ id: 'exec-app', health: 'unhealthy', registered: false })]);
    expect(await ids(t)).toEqual([]);
  });

  it('at SIGTERM is deregistered first; the child gets the signal only after the drain delay', async () => {
    const t = 'svc-drain';
    const { config } = await h.manifest(t, 'exec:\n  drain: 2s\n  service:\n    id: exec-app\n');
    const proc = h.exec(config, [...APP, 'serve']);
    await expect.poll(() => ids(t), POLL).toEqual(['exec-app']);
    await expect.poll(() => proc.stdout(), POLL).toContain('READY');
    const pid = starts(proc.stdout())[0]?.pid as number;
    proc.child.kill('SIGTERM');
    await expect.poll(() => ids(t), POLL).toEqual([]);
    // Deregistered, and the child still serves: it has not been signalled yet.
    expect(proc.stdout()).not.toContain('GOT SIGTERM');
    expect(alive(pid)).toBe(true);
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(proc.stdout()).toContain('GOT SIGTERM');
  });
});
