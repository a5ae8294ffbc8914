import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { APP, ExecHarness, alive, starts } from './harness.js';

/**
 * `tether exec` on change, with real processes: a changed file restarts or
 * signals the child as its policy says, a changed variable restarts it,
 * bursts are debounced, and a restart escalates to SIGKILL after the kill timeout.
 */

const h = new ExecHarness();
beforeAll(() => h.start('exec-change'));
afterEach(() => h.cleanup());
afterAll(() => h.stop());

const POLL = { timeout: 20_000, interval: 25 };

async function running(tenant: string, exec: string, env: Array<[string, string]> = []) {
  for (const [k, v] of env) await h.client.setConfig(tenant, k, { value: v });
  const { dir, config } = await h.manifest(tenant, `files:\n  - path: main.conf\n    from: { key: /conf/main }\n  - path: other.conf\n    from: { key: /conf/other }\nexec:\n${exec}`);
  const proc = h.exec(config, [...APP, 'serve', join(dir, 'main.conf')]);
  await expect.poll(() => proc.stdout(), POLL).toContain('READY');
  return { dir, proc };
}

describe('tether exec: on change', () => {
  it('restarts the child when a file with `restart` changes; a burst makes one restart', async () => {
    const t = 'chg-restart';
    const { dir, proc } = await running(t, '  wait: 1s\n', [['/conf/main', 'v1'], ['/conf/other', 'o1']]);
    const first = starts(proc.stdout())[0]?.pid as number;
    for (const v of ['v2', 'v3', 'v4']) await h.client.setConfig(t, '/conf/main', { value: v });
    await expect.poll(() => proc.stdout(), POLL).toContain(`FILE ${join(dir, 'main.conf')}=v4`);
    expect(starts(proc.stdout())).toHaveLength(2);
    expect(proc.stdout()).toContain('GOT SIGTERM'); // the stop signal, before the new start
    await expect.poll(() => alive(first), POLL).toBe(false);
  });

  it('leaves the child alone when a file with `none` changes', async () => {
    const t = 'chg-none';
    const { dir, proc } = await running(t, '  files: { other.conf: none }\n', [['/conf/main', 'v1'], ['/conf/other', 'o1']]);
    await h.client.setConfig(t, '/conf/other', { value: 'o2' });
    await expect.poll(() => readFile(join(dir, 'other.conf'), 'utf8'), POLL).toBe('o2');
    // A restart for other.conf would have come before this one (no wait): two starts, not three.
    await h.client.setConfig(t, '/conf/main', { value: 'v2' });
    await expect.poll(() => proc.stdout(), POLL).toContain(`FILE ${join(dir, 'main.conf')}=v2`);
    expect(starts(proc.stdout())).toHaveLength(2);
  });

  it('spreads one change over exec.splay: several tethers act on it at different times, none past the splay', async () => {
    const t = 'chg-splay';
    const procs = [];
    for (let i = 0; i < 4; i++) procs.push((await running(t, '  on_change: SIGHUP\n  splay: 3s\n', [['/conf/main', 'v1'], ['/conf/other', 'o1']])).proc);
    const changedAt = Date.now();
    await h.client.setConfig(t, '/conf/main', { value: 'v2' });
    const acted = await Promise.all(procs.map((p) => p.waitForLog((r) => r.msg === 'change: acting on the child', 20_000)));
    for (const p of procs) await expect.poll(() => p.stdout(), POLL).toContain('GOT SIGHUP');
    const delays = acted.map((r) => (r.time as number) - changedAt);
    // Without splay each acts within the event's delivery (milliseconds, all alike); uniform over 3 s, all
    // four below 300 ms (or within 100 ms of each other) has odds of about 1 in 10,000.
    expect(Math.max(...delays), `delays ${delays.join(', ')} ms`).toBeGreaterThan(300);
    expect(Math.max(...delays) - Math.min(...delays), `delays ${delays.join(', ')} ms`).toBeGreaterThan(100);
    for (const d of delays) expect(d).toBeLessThan(3000 + 2000);
  });

  it('sends the named signal for a file with a signal policy, and keeps the child', async () => {
    const t = 'chg-signal';
    const { proc } = await running(t, '  on_change: SIGHUP\n', [['/conf/main', 'v1'], ['/conf/other', 'o1']]);
    await h.client.setConfig(t, '/conf/main', { value: 'v2' });
    await expect.poll(() => proc.stdout(), POLL).toContain('GOT SIGHUP');
    expect(starts(proc.stdout())).toHaveLength(1);
  });

  it('restarts the child when one of its variables changes, with the new environment', async () => {
    const t = 'chg-env';
    const { proc } = await running(t, '  env:\n    - { namespace: /app, prefix: APP_ }\n', [['/conf/main', 'v1'], ['/conf/other', 'o1'], ['/app/color', 'blue']]);
    expect(starts(proc.stdout())[0]?.env).toEqual({ APP_COLOR: 'blue' });
    await h.client.setConfig(t, '/app/color', { value: 'green' });
    await expect.poll(() => starts(proc.stdout()).length, POLL).toBe(2);
    expect(starts(proc.stdout())[1]?.env).toEqual({ APP_COLOR: 'green' });
  });

  it('restarts the child when a secret variable changes (its event carries no value: it is read from the registry)', async () => {
    const t = 'chg-secret';
    await h.client.setConfig(t, '/_tether/secret_prefixes', { value: '["/secrets/"]' });
    const { proc } = await running(t, '  env:\n    - { key: /secrets/dbpass, name: DB_PASSWORD }\n', [['/conf/main', 'v1'], ['/conf/other', 'o1'], ['/secrets/dbpass', 'old-pass']]);
    expect(starts(proc.stdout())[0]?.env).toEqual({ DB_PASSWORD: 'old-pass' });
    await h.client.setConfig(t, '/secrets/dbpass', { value: 'new-pass' });
    await expect.poll(() => starts(proc.stdout()).length, POLL).toBe(2);
    expect(starts(proc.stdout())[1]?.env).toEqual({ DB_PASSWORD: 'new-pass' });
  });

  it('does not restart for the feed\'s replay of older values (a tenant with more than a page of events in the last hour)', async () => {
    const t = 'chg-replay';
    await h.client.setConfig(t, '/app/color', { value: 'blue' });
    for (let i = 0; i < 120; i++) await h.client.setConfig(t, '/noise/counter', { value: String(i) });
    const { proc } = await running(t, '  env:\n    - { namespace: /app, prefix: APP_ }\n', [['/conf/main', 'v1'], ['/conf/other', 'o1'], ['/app/color', 'green']]);
    expect(starts(proc.stdout())[0]?.env).toEqual({ APP_COLOR: 'green' });
    // The follower replays the last hour from its first page (color=blue) on; a real change comes after it in the feed.
    await h.client.setConfig(t, '/app/color', { value: 'red' });
    await expect.poll(() => starts(proc.stdout()).length, POLL).toBeGreaterThanOrEqual(2);
    expect(starts(proc.stdout()).map((s) => s.env.APP_COLOR)).toEqual(['green', 'red']);
    // Counted in tether's log too: a child stopped for a replayed value may die before it prints its START line.
    const started = proc.log.filter((l) => l.startsWith('{') && (JSON.parse(l) as { msg?: string }).msg === 'child started');
    expect(started).toHaveLength(2);
  });

  it('a restart sends the stop signal, then SIGKILL after the kill timeout to a child that ignores it', async () => {
    const t = 'chg-kill';
    const { proc } = await running(t, '  stop_signal: SIGUSR1\n  kill_timeout: 500ms\n', [['/conf/main', 'v1'], ['/conf/other', 'o1']]);
    const first = starts(proc.stdout())[0]?.pid as number;
    await h.client.setConfig(t, '/conf/main', { value: 'v2' });
    await expect.poll(() => starts(proc.stdout()).length, POLL).toBe(2);
    expect(proc.stdout()).toContain('GOT SIGUSR1');
    expect(proc.stdout()).not.toContain('GOT SIGTERM');
    expect(alive(first)).toBe(false);
  });
});
