import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { APP, ExecHarness, starts } from './harness.js';

/**
 * The drain window (between deregistration and the stop of the child), with
 * real processes: nothing may bring the service back or start another child
 * once the shutdown has begun.
 */

const h = new ExecHarness();
beforeAll(() => h.start('exec-drain'));
afterEach(() => h.cleanup());
afterAll(() => h.stop());

const POLL = { timeout: 20_000, interval: 50 };

async function ids(tenant: string): Promise<string[]> {
  return (await h.client.listServices(tenant)).values.map((s) => s.id);
}

describe('tether exec: the drain window', () => {
  it('a child that dies during the drain is not restarted, its service stays deregistered, and tether exits with its status', async () => {
    const t = 'drain-crash';
    const { config } = await h.manifest(t, 'exec:\n  restart: always\n  min_uptime: 100ms\n  restart_delay: 100ms\n  drain: 10s\n  service:\n    id: exec-app\n');
    const proc = h.exec(config, [...APP, 'serve']);
    await expect.poll(() => ids(t), POLL).toEqual(['exec-app']);
    await expect.poll(() => proc.stdout(), POLL).toContain('READY');
    const pid = starts(proc.stdout())[0]?.pid as number;
    proc.child.kill('SIGTERM');
    await expect.poll(() => ids(t), POLL).toEqual([]);
    process.kill(pid, 'SIGKILL');
    const started = performance.now();
    expect((await proc.exited).code).toBe(137);
    // It did not wait out the drain (10 s) for a child that is gone already.
    expect(performance.now() - started).toBeLessThan(7000);
    expect(starts(proc.stdout())).toHaveLength(1);
    expect(await ids(t)).toEqual([]);
  });
});
