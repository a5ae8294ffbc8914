import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { APP, ExecHarness, starts } from './harness.js';

/**
 * `tether exec`'s crash policy with real processes: restart always /
 * on-failure / never with backoff, and a crash loop visible in /v1/status
 * and the metrics.
 */

const h = new ExecHarness();
beforeAll(() => h.start('exec-crash'));
afterEach(() => h.cleanup());
afterAll(() => h.stop());

const POLL = { timeout: 20_000, interval: 50 };
const FAST = '  min_uptime: 100ms\n  restart_delay: 100ms\n  restart_max_delay: 5s\n';

interface ExecStatusDoc {
  exec?: { state: string; starts: number; restarts: { crash: number; change: number }; crashLoop: boolean; consecutiveCrashes: number; lastExit: { code: number | null } | null };
}

async function status(api: string): Promise<ExecStatusDoc> {
  return (await (await fetch(`${api}/v1/status`)).json()) as ExecStatusDoc;
}

describe('tether exec: crash policy', () => {
  it('on-failure restarts a failing child with backoff; the crash loop shows in /v1/status and the metrics', async () => {
    const { config } = await h.manifest('crash-loop', `exec:\n  restart: on-failure\n${FAST}`);
    const proc = h.exec(config, [...APP, 'exit', '3', '300']);
    const api = (await proc.waitForLog((r) => r.msg === 'agent started')).api as string;
    await expect.poll(async () => (await status(api)).exec?.consecutiveCrashes ?? 0, POLL).toBeGreaterThanOrEqual(2);
    const doc = await status(api);
    expect(doc.exec).toMatchObject({ crashLoop: true, lastExit: { code: 3 } });
    expect(doc.exec?.restarts.crash).toBeGreaterThanOrEqual(1);
    const metrics = await (await fetch(`${api}/metrics`)).text();
    expect(metrics).toMatch(/^tether_exec_crash_loop 1$/m);
    expect(metrics).toMatch(/^tether_exec_restarts_total\{reason="crash"\} [1-9]/m);
    // Backoff: the delays double (100, 200, 400 ms...), so starts come slower than the child's 300 ms runs.
    const log = proc.log.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string; delayMs?: number }).filter((r) => r.delayMs !== undefined);
    expect(log[1]?.delayMs).toBeGreaterThan(log[0]?.delayMs as number);
  });

  it('a crash loop that recovers clears in the metrics as in /v1/status', async () => {
    const { dir, config } = await h.manifest('crash-recover', 'exec:\n  restart: on-failure\n  min_uptime: 100ms\n  restart_delay: 100ms\n  restart_max_delay: 1s\n');
    // Fails twice (a crash loop), then serves.
    const script = 'n=$(cat "$1" 2>/dev/null || echo 0); echo $((n+1)) > "$1"; if [ "$n" -lt 2 ]; then sleep 0.3; exit 3; fi; shift; exec "$@" serve';
    const proc = h.exec(config, ['/bin/sh', '-c', script, 'sh', `${dir}/runs`, ...APP]);
    const api = (await proc.waitForLog((r) => r.msg === 'agent started')).api as string;
    await expect.poll(() => proc.stdout(), POLL).toContain('READY');
    expect((await status(api)).exec?.starts).toBe(3);
    // Running longer than restart_max_delay is a recovery.
    await expect.poll(async () => (await status(api)).exec?.crashLoop, POLL).toBe(false);
    const metrics = await (await fetch(`${api}/metrics`)).text();
    expect(metrics).toMatch(/^tether_exec_crash_loop 0$/m);
    expect(metrics).toMatch(/^tether_exec_consecutive_crashes 0$/m);
  });

  it('on-failure does not restart a child that exits 0: tether exits 0', async () => {
    const { config } = await h.manifest('crash-ok', `exec:\n  restart: on-failure\n${FAST}`);
    const proc = h.exec(config, [...APP, 'exit', '0', '300']);
    expect((await proc.exited).code).toBe(0);
    expect(starts(proc.stdout())).toHaveLength(1);
  });

  it('always restarts a child that exits 0', async () => {
    const { config } = await h.manifest('crash-always', `exec:\n  restart: always\n${FAST}`);
    const proc = h.exec(config, [...APP, 'exit', '0', '300']);
    await expect.poll(() => starts(proc.stdout()).length, POLL).toBeGreaterThanOrEqual(3);
  });

  it('never: tether exits with the status of the crashed child', async () => {
    const { config } = await h.manifest('crash-never', `exec:\n  restart: never\n${FAST}`);
    const proc = h.exec(config, [...APP, 'exit', '9', '300']);
    expect((await proc.exited).code).toBe(9);
    expect(starts(proc.stdout())).toHaveLength(1);
  });

  it('SIGTERM during the backoff ends tether with the last status, without another start', async () => {
    const { config } = await h.manifest('crash-stop', `exec:\n  restart: on-failure\n  min_uptime: 100ms\n  restart_delay: 10s\n`);
    const proc = h.exec(config, [...APP, 'exit', '5', '300']);
    await proc.waitForLog((r) => r.msg === 'child crashed: restarting after a delay');
    proc.child.kill('SIGTERM');
    expect((await proc.exited).code).toBe(5);
    expect(starts(proc.stdout())).toHaveLength(1);
  });
});
