import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { APP, ExecHarness, alive, starts } from './harness.js';

/**
 * `tether exec` end to end with real processes: a registry, tether, and the
 * test application as its child. The environment and files from
 * configuration, exit codes, signals, and bad input.
 */

const h = new ExecHarness();
beforeAll(() => h.start('exec-run'));
afterEach(() => h.cleanup());
afterAll(() => h.stop());

const POLL = { timeout: 15_000, interval: 25 };

describe('tether exec: start', () => {
  it('gives the child its environment from keys and namespaces (no shell) and renders files before it starts', async () => {
    const t = 'exec-env';
    await h.client.setConfig(t, '/app/database/host', { value: 'db.local' });
    await h.client.setConfig(t, '/app/log_level', { value: 'debug' });
    await h.client.setConfig(t, '/secrets/dbpass', { value: '$(touch /tmp/pwned) `x` "q"' });
    await h.client.setConfig(t, '/conf/main', { value: 'port=8080' });
    const { dir, config } = await h.manifest(
      t,
      `files:\n  - path: main.conf\n    from: { key: /conf/main }\nexec:\n  env:\n    - { key: /secrets/dbpass, name: DB_PASSWORD }\n    - { namespace: /app/, prefix: APP_ }\n`,
    );
    const proc = h.exec(config, [...APP, 'exit', '0', '1500'], { ODD: 'inherited' });
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    const [first] = starts(proc.stdout());
    expect(first?.env).toEqual({ APP_DATABASE_HOST: 'db.local', APP_LOG_LEVEL: 'debug', DB_PASSWORD: '$(touch /tmp/pwned) `x` "q"', ODD: 'inherited' });
    // The same manifest's file, rendered before the child started: the child could read it.
    const proc2 = h.exec(config, [...APP, 'serve', join(dir, 'main.conf')]);
    await expect.poll(() => proc2.stdout(), POLL).toContain(`FILE ${join(dir, 'main.conf')}=port=8080`);
  });

  it('does not hand the child the local API token it inherited; one the manifest names for it is given', async () => {
    const t = 'exec-token';
    await h.client.setConfig(t, '/app/token', { value: 'from-config' });
    const { config } = await h.manifest(t, 'exec:\n  min_uptime: 0\n');
    const proc = h.exec(config, [...APP, 'exit', '0'], { TETHER_AGENT_TOKEN: 'agent-s3cret', ODD: 'inherited' });
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(starts(proc.stdout())[0]?.env).toEqual({ ODD: 'inherited' });
    const named = await h.manifest(t, 'exec:\n  min_uptime: 0\n  env:\n    - { key: /app/token, name: TETHER_AGENT_TOKEN }\n');
    const proc2 = h.exec(named.config, [...APP, 'exit', '0'], { TETHER_AGENT_TOKEN: 'agent-s3cret' });
    expect(await proc2.exited).toEqual({ code: 0, signal: null });
    expect(starts(proc2.stdout())[0]?.env).toEqual({ TETHER_AGENT_TOKEN: 'from-config' });
  });

  it('exits with the child\'s status, and with 128 + the signal\'s number when a signal killed it', async () => {
    const { config } = await h.manifest('exec-codes', 'exec:\n  min_uptime: 0\n');
    expect((await h.exec(config, [...APP, 'exit', '7']).exited).code).toBe(7);
    expect((await h.exec(config, [...APP, 'kill', 'SIGKILL']).exited).code).toBe(137);
    expect((await h.exec(config, [...APP, 'kill', 'SIGTERM']).exited).code).toBe(143);
  });

  it('takes the command from exec.command when none follows --', async () => {
    const { config } = await h.manifest('exec-cmd', `exec:\n  command: ${JSON.stringify([...APP, 'exit', '3', '1200'])}\n`);
    expect((await h.exec(config, []).exited).code).toBe(3);
  });
});

describe('tether exec: signals', () => {
  it('exits with the child\'s code when a SIGTERM comes after the child exited, while the agent still deregisters', async () => {
    const t = 'exec-late-term';
    const { config } = await h.manifest(t, 'exec:\n  min_uptime: 0\n  service:\n    id: late-app\n');
    const proc = h.exec(config, [...APP, 'exit', '7', '2000']);
    await expect.poll(async () => (await h.client.listServices(t)).values.map((s) => s.id), POLL).toEqual(['late-app']);
    // A registry that does not answer holds the deregistration (upstream timeout 1 s, then retries) past the child's exit.
    process.kill(h.registry.child.pid as number, 'SIGSTOP');
    try {
      await proc.waitForLog((r) => r.msg === 'child exited', 15_000);
      // The shutdown's deregistration has begun (and fails): tether is past its child, in agent.close().
      await proc.waitForLog((r) => r.op === 'deregister', 15_000);
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toEqual({ code: 7, signal: null });
    } finally {
      process.kill(h.registry.child.pid as number, 'SIGCONT');
    }
  });

  it('forwards SIGHUP, SIGUSR1, SIGUSR2 and SIGTERM to the child and exits with its status', async () => {
    const { config } = await h.manifest('exec-sig', '');
    const proc = h.exec(config, [...APP, 'serve']);
    await expect.poll(() => proc.stdout(), POLL).toContain('READY');
    for (const sig of ['SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const) {
      proc.child.kill(sig);
      await expect.poll(() => proc.stdout(), POLL).toContain(`GOT ${sig}`);
    }
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(proc.stdout()).toContain('GOT SIGTERM');
  });

  it('forwards SIGINT: a child that dies of it makes tether exit 130, and nothing is left running', async () => {
    const { config } = await h.manifest('exec-int', '');
    const proc = h.exec(config, [...APP, 'serve']);
    await expect.poll(() => proc.stdout(), POLL).toContain('READY');
    const pid = starts(proc.stdout())[0]?.pid as number;
    proc.child.kill('SIGINT');
    expect((await proc.exited).code).toBe(130);
    expect(alive(pid)).toBe(false);
  });
});

describe('tether exec: bad input', () => {
  it('a command that does not exist: one message, exit 127', async () => {
    const { config } = await h.manifest('exec-bad', '');
    const proc = h.exec(config, ['/nonexistent/app', '--flag']);
    expect((await proc.exited).code).toBe(127);
    expect(proc.log.filter((l) => l.startsWith('error:'))).toEqual(['error: command not found: /nonexistent/app']);
  });

  it('a command that cannot be executed: one message, exit 126', async () => {
    const { dir, config } = await h.manifest('exec-bad', '');
    const script = join(dir, 'not-executable.sh');
    await writeFile(script, '#!/bin/sh\necho hi\n');
    await chmod(script, 0o644);
    const proc = h.exec(config, [script]);
    expect((await proc.exited).code).toBe(126);
    expect(proc.log.filter((l) => l.startsWith('error:'))).toEqual([`error: cannot execute ${script}: EACCES`]);
  });

  it('a child that fails at once: one message with its status, exit with its status', async () => {
    const { config } = await h.manifest('exec-bad', 'exec:\n  restart: always\n');
    const proc = h.exec(config, [...APP, 'exit', '4']);
    expect((await proc.exited).code).toBe(4);
    expect(starts(proc.stdout())).toHaveLength(1);
    expect(proc.log.filter((l) => l.startsWith('error:'))).toEqual([expect.stringMatching(/^error: the command exited at once \(exit status 4, \d+ ms after it started\)$/)]);
  });

  it('a variable whose value holds a NUL byte: one message naming it (not the value), exit 125, the child never starts', async () => {
    const t = 'exec-nul';
    await h.client.setConfig(t, '/secrets/dbpass', { value: 's3cret\0tail' });
    const { config } = await h.manifest(t, 'exec:\n  env:\n    - { key: /secrets/dbpass, name: DB_PASSWORD }\n');
    const proc = h.exec(config, [...APP, 'serve']);
    expect((await proc.exited).code).toBe(125);
    expect(proc.stdout()).not.toContain('START');
    expect(proc.log.filter((l) => l.startsWith('error:'))).toEqual([expect.stringContaining('the environment variable DB_PASSWORD holds a NUL byte')]);
    expect(proc.log.join('\n')).not.toContain('s3cret');
  });

  it('an unrenderable file: one message naming it, exit 125, the child never starts', async () => {
    const { dir, config } = await h.manifest('exec-bad', 'files:\n  - path: gone.conf\n    from: { key: /missing/such/key }\n    on_missing: error\n');
    const proc = h.exec(config, [...APP, 'serve']);
    expect((await proc.exited).code).toBe(125);
    expect(proc.stdout()).not.toContain('START');
    const errors = proc.log.filter((l) => l.startsWith('error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`cannot render ${join(dir, 'gone.conf')}`);
  });

  it('a registry that cannot be reached: exit 125 after exec.render_timeout, with the reason', async () => {
    const { config } = await h.manifest('exec-bad', 'files:\n  - path: a.conf\n    from: { key: /app/key }\nexec:\n  render_timeout: 1s\n');
    await writeFile(config, (await readFile(config, 'utf8')).replace(h.registry.url, 'http://127.0.0.1:9'));
    const proc = h.exec(config, [...APP, 'serve']);
    expect((await proc.exited).code).toBe(125);
    expect(proc.stdout()).not.toContain('START');
    const errors = proc.log.filter((l) => l.startsWith('error:'));
    expect(errors).toEqual([expect.stringContaining('not ready within exec.render_timeout (1000 ms)')]);
  });
});
